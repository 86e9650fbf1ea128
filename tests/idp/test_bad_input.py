"""Hostile values at the providers get a clear 4xx, never a 500 nor a redirect off the issuer.

Over real HTTP against a provider of this module's own (QA mode on for the scenario panel).
"""
from __future__ import annotations

from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from idp_mock import create_app
from idp_mock.demo import seed_demo
from tests.fixtures.idp_helpers import CLIENT_IDS
from tests.fixtures.idp_helpers import CLIENT_SECRETS
from tests.fixtures.idp_helpers import RP_REDIRECTS
from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import LiveServer
from tests.fixtures.idp_helpers import csrf_token
from tests.fixtures.idp_helpers import make_config
from tests.fixtures.idp_helpers import query_of

PASSWORD = "Passw0rd!"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    app = create_app(make_config(tmp_path_factory.mktemp("idp") / "idp.sqlite", IDP_QA_MODE=True,
                                 IDP_CONTROL_TOKEN="bad-input-test-token",
                                 LOGIN_MAX_FAILURES_PER_ADDRESS=10**6))
    with app.app_context():
        seed_demo()
    server = LiveServer(app).start()
    yield server
    server.stop()


def _authorize(server, **overrides) -> requests.Response:
    params = {"response_type": "code", "client_id": CLIENT_IDS["learn"], "scope": "openid",
              "redirect_uri": RP_REDIRECTS["learn"], "state": "s", "nonce": "n",
              "code_challenge": "a" * 43, "code_challenge_method": "S256", **overrides}
    return requests.get(f"{server.url}/learn/authorize?" + urlencode(params),
                        allow_redirects=False, timeout=10)


# ---------------------------------------------------------------- /authorize


@pytest.mark.parametrize("suffix", ["\t", "\\", '"', "é", "\r", "\n", "\r\nX-Injected: 1", "\x7f",
                                    "\x01", "\x1b", "\u2028", "中"],
                         ids=lambda s: repr(s))
def test_authorize_with_hostile_redirect_uri_is_a_400_page(provider, suffix):
    response = _authorize(provider, redirect_uri=RP_REDIRECTS["learn"] + suffix)
    assert response.status_code == 400, response.text[:300]
    assert "Location" not in response.headers
    assert "This sign-in request is not valid" in response.text
    assert "invalid_request" in response.text


@pytest.mark.parametrize("response_type", ["token\\", 'code"', "code\t", "códe", "code\r\n",
                                           "\x7f"], ids=lambda s: repr(s))
def test_authorize_with_hostile_response_type_is_an_oauth_error(provider, response_type):
    # A registered redirect_uri: the error goes back to the client (RFC 6749 4.1.2.1).
    response = _authorize(provider, response_type=response_type)
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(RP_REDIRECTS["learn"] + "?")
    assert query_of(location)["error"] == "unsupported_response_type"
    # An unregistered one: the provider's own error page.
    page = _authorize(provider, response_type=response_type,
                      redirect_uri="https://evil.example/cb\\")
    assert page.status_code == 400 and "Location" not in page.headers


# ---------------------------------------------------------------- client credentials, userinfo


def _client_credentials(server, scope: str | None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return requests.post(f"{server.url}/learn/token", data=data, timeout=10,
                         auth=(CLIENT_IDS["learn"], CLIENT_SECRETS["learn"]))


@pytest.mark.parametrize("scope", ["openid", "openid profile email", "transcript.read openid",
                                   "profile", "email transcript.read"])
def test_client_credentials_refuses_any_scope_but_transcript_read(provider, scope):
    response = _client_credentials(provider, scope)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"


def test_client_credentials_grants_transcript_read(provider):
    response = _client_credentials(provider, "transcript.read")
    assert response.status_code == 200 and response.json()["scope"] == "transcript.read"


@pytest.mark.parametrize("scope", ["transcript.read", None])
def test_userinfo_with_a_client_credentials_token_is_an_rfc6750_error(provider, scope):
    token = _client_credentials(provider, scope).json()["access_token"]
    for method in ("GET", "POST"):
        response = requests.request(method, f"{provider.url}/learn/userinfo", timeout=10,
                                    headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "insufficient_scope"


def test_userinfo_with_a_token_of_no_user_is_invalid_token(provider):
    """A token without a user that still carries ``openid`` (issued before client credentials
    were limited to transcript.read) is refused as 401 invalid_token, not a 500."""
    from idp_mock.models import Token, db

    token = _client_credentials(provider, "transcript.read").json()["access_token"]
    with provider.app.app_context():
        db.session.execute(db.update(Token).where(Token.access_token == token)
                           .values(scope="openid profile email"))
        db.session.commit()
    response = requests.get(f"{provider.url}/learn/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_service_session_with_default_scope_still_reads_transcripts(provider):
    session = OAuth2Session(CLIENT_IDS["learn"], CLIENT_SECRETS["learn"], scope="transcript.read")
    token = session.fetch_token(f"{provider.url}/learn/token", grant_type="client_credentials")
    assert token["scope"] == "transcript.read"


# ---------------------------------------------------------------- next with CR/LF

HOSTILE_NEXT = ["/learn/account\r\nSet-Cookie: x=1", "/learn/account\nLocation: https://evil.example",
                "/learn/\rhttps://evil.example", "/learn/account\t", "\r\n//evil.example",
                "/learn/account\x7f", "/learn/acc\x85ount"]


def _assert_stays_on_the_issuer(response, base_url: str):
    assert response.status_code < 500, response.text[:300]
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert parts.netloc in ("", urlsplit(base_url).netloc), location
        assert parts.path.startswith("/learn/"), location
        assert "\r" not in location and "\n" not in location


@pytest.mark.parametrize("next_url", HOSTILE_NEXT, ids=repr)
def test_signin_with_control_characters_in_next_falls_back(provider, next_url):
    browser = Browser()
    url = f"{provider.url}/learn/signin?" + urlencode({"next": next_url})
    page = browser.get(url)
    assert page.status_code == 200
    response = browser.post(url, {"csrf_token": csrf_token(page.text),
                                  "email": "alex.learner@outlook.com", "password": PASSWORD})
    _assert_stays_on_the_issuer(response, provider.url)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/learn/account"


@pytest.mark.parametrize("next_url", HOSTILE_NEXT, ids=repr)
def test_signup_with_control_characters_in_next_falls_back(provider, next_url):
    browser = Browser()
    url = f"{provider.url}/learn/signup?" + urlencode({"next": next_url})
    page = browser.get(url)
    assert page.status_code == 200
    email = f"n{abs(hash(next_url))}@example.com"
    response = browser.post(url, {"csrf_token": csrf_token(page.text), "email": email,
                                  "display_name": "N", "password": PASSWORD,
                                  "confirm": PASSWORD})
    _assert_stays_on_the_issuer(response, provider.url)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/learn/account"


@pytest.mark.parametrize("next_url", HOSTILE_NEXT, ids=repr)
def test_scenario_clear_with_control_characters_in_next_falls_back(provider, next_url):
    browser = Browser()
    page = browser.get(f"{provider.url}/learn/signin")
    token = csrf_token(page.text)
    for query, field in ((urlencode({"next": next_url}), {}), ("", {"qa-clear-next": next_url})):
        response = browser.post(f"{provider.url}/learn/test-scenario/clear?{query}",
                                {"csrf_token": token, "qa-clear-csrf_token": token, **field})
        _assert_stays_on_the_issuer(response, provider.url)


# ---------------------------------------------------------------- integers past the columns


@pytest.mark.parametrize("number", [2**31, 2**63, 2**64, 10**30])
def test_integer_route_variable_past_the_column_is_a_404(provider, number):
    response = requests.delete(f"{provider.url}/learn/qa/scenarios/{number}", timeout=10,
                               headers={"Authorization": "Bearer bad-input-test-token"})
    assert response.status_code == 404, response.text[:300]
