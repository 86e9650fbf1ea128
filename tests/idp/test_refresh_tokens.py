"""The refresh_token grant over real HTTP: rotation, reuse of a rotated token revoking its
whole family, expiry. Providers of their own (refresh tokens live 3 seconds here)."""
from __future__ import annotations

import time

import pytest

from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import LiveServer
from tests.fixtures.idp_helpers import make_config
from tests.fixtures.qa_clients import QaClient
from tests.fixtures.qa_clients import allow
from tests.fixtures.qa_clients import redirect_params
from tests.fixtures.qa_clients import sign_in
from tests.fixtures.qa_control import ControlAPI

LIFETIME = 3


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    from idp_mock import create_app
    from idp_mock.demo import seed_demo

    app = create_app(make_config(tmp_path_factory.mktemp("idp") / "idp.sqlite",
                                 IDP_QA_MODE=True, IDP_CONTROL_TOKEN="refresh-tests-token",
                                 IDP_REFRESH_TOKEN_EXPIRES_IN=LIFETIME))
    with app.app_context():
        seed_demo()
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def client(provider):
    qa = QaClient(ControlAPI(provider.url, "refresh-tests-token"), provider.url, "learn")
    yield qa
    qa.delete()


def tokens(client: QaClient, scope="openid profile offline_access") -> dict:
    browser = Browser()
    auth = client.authorization_request(scope=scope)
    answer = sign_in(browser, auth.url, "alex.learner@outlook.com")
    if answer.status_code == 200:
        answer = allow(browser, answer, auth.url)
    response = client.exchange(redirect_params(answer, client)["code"], auth.verifier)
    assert response.status_code == 200, response.text
    return response.json()


def test_refresh_rotates_the_refresh_token(client):
    first = tokens(client)
    second = client.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert client.userinfo(second["access_token"]).status_code == 200
    third = client.refresh(second["refresh_token"])
    assert third.status_code == 200, third.text


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client):
    first = tokens(client)
    other = tokens(client)  # another flow: another family
    second = client.refresh(first["refresh_token"]).json()
    reused = client.refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # Everything descended from that code is revoked: the current access and refresh tokens.
    assert client.userinfo(second["access_token"]).status_code == 401
    assert client.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    # The other family is untouched.
    assert client.userinfo(other["access_token"]).status_code == 200
    assert client.refresh(other["refresh_token"]).status_code == 200


def test_refresh_token_expires(client):
    first = tokens(client)
    time.sleep(LIFETIME + 1.5)
    expired = client.refresh(first["refresh_token"])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_refresh_token_is_bound_to_its_client_and_scope(provider, client):
    first = tokens(client)
    other = QaClient(ControlAPI(provider.url, "refresh-tests-token"), provider.url, "learn")
    try:
        stolen = other.refresh(first["refresh_token"])
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    finally:
        other.delete()
    wider = client.token_request({"grant_type": "refresh_token", "scope": "openid email",
                                  "refresh_token": first["refresh_token"]})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    # Neither refusal used the token up.
    assert client.refresh(first["refresh_token"]).status_code == 200


def test_no_refresh_token_without_offline_access(client):
    assert "refresh_token" not in tokens(client, scope="openid profile")
