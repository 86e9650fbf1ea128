"""QA mode cannot be turned against other people: it is off unless configured, what a page's
"Test scenario" panel arms belongs to the browser that armed it, and token faults fire only for
an authenticated client, at most once per authorization code."""
from __future__ import annotations

import html
import re
import threading
import time

import pytest
import requests

from idp_mock import create_app
from idp_mock.config import config_from_env
from idp_mock.demo import seed_demo
from idp_mock.models import FaultHit
from idp_mock.models import db
from tests.fixtures.idp_helpers import CHEAP_HASH
from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import LiveServer
from tests.fixtures.idp_helpers import RelyingParty
from tests.fixtures.idp_helpers import make_config
from tests.fixtures.idp_helpers import query_of
from tests.fixtures.qa_control import ControlAPI

TOKEN = "test-qa-isolation-control-token"
AUTHORIZE = ("/learn/authorize?response_type=code&client_id=rp-learn"
             "&redirect_uri=http%3A%2F%2Frp.example.com%2Fcallback%2Flearn"
             "&scope=openid&state=s&nonce=n&code_challenge=" + "a" * 43 +
             "&code_challenge_method=S256")


@pytest.fixture(scope="module")
def qa_live(tmp_path_factory):
    """Both demo providers with QA mode and the control API configured explicitly."""
    app = create_app(make_config(tmp_path_factory.mktemp("idp") / "idp.sqlite",
                                 IDP_QA_MODE=True, IDP_CONTROL_TOKEN=TOKEN))
    with app.app_context():
        seed_demo()
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def isolated_control(qa_live):
    api = ControlAPI(qa_live.url, token=TOKEN)
    api.clear("learn")
    yield api
    api.clear("learn")


@pytest.fixture
def rp(qa_live):
    return RelyingParty(qa_live.url, "learn")


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]*)"', page)
    return html.unescape(found.group(1))


def arm_from_panel(browser: Browser, base_url: str, page, scenario: str,
                   scope: str = "until-cleared"):
    """Submit the Test scenario panel of a provider page, as any visitor can."""
    response = browser.post(f"{base_url}/learn/test-scenario/", {
        "qa-csrf_token": _hidden(page.text, "qa-csrf_token"),
        "qa-client_id": _hidden(page.text, "qa-client_id"),
        "qa-next": _hidden(page.text, "qa-next"),
        "qa-scenario": scenario, "qa-scope": scope, "qa-submit": "Arm scenario"})
    assert response.status_code == 302, response.text
    return browser.get(urljoin_base(base_url, response.headers["Location"]))


def urljoin_base(base_url: str, location: str) -> str:
    return location if location.startswith("http") else base_url + location


def _exchange_body(rp, code, auth):
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": auth.code_verifier}


def _code_for(rp, browser=None, email="alex.learner@outlook.com"):
    auth = rp.authorization_request()
    response = (browser or Browser()).sign_in_and_consent(auth.url, email)
    return query_of(response.headers["Location"]), auth


def test_qa_mode_is_off_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("IDP_QA_MODE", raising=False)
    assert config_from_env()["IDP_QA_MODE"] is False
    app = create_app(make_config(tmp_path / "idp.sqlite", IDP_CONTROL_TOKEN="some-token",
                                 IDP_PASSWORD_HASH=CHEAP_HASH))
    client = app.test_client()
    auth = {"Authorization": "Bearer some-token"}
    assert client.get("/learn/qa/scenarios", headers=auth).status_code == 404
    assert client.post("/qa/reset", headers=auth).status_code == 404
    page = client.get(AUTHORIZE).get_data(as_text=True)
    assert 'name="password"' in page and "Test scenario" not in page

    monkeypatch.setenv("IDP_QA_MODE", "true")
    assert config_from_env()["IDP_QA_MODE"] is True


def test_panel_scenario_applies_only_to_the_browser_that_armed_it(qa_live, rp, isolated_control):
    visitor = Browser()
    auth = rp.authorization_request()
    page = visitor.get(auth.url)  # anonymous: the provider's sign-in page
    page = arm_from_panel(visitor, qa_live.url, page, "authorize_access_denied")
    assert "authorize_access_denied" in page.text

    # Someone else's flows go on: a code, twice.
    for _ in range(2):
        params, _auth = _code_for(rp, Browser())
        assert "code" in params and "error" not in params
    [row] = isolated_control.scenarios("learn")
    assert row["scope"] == "until-cleared" and row["hits"] == 0
    assert row["armed_from"] == "panel"

    # The visitor's own flow meets the scenario (armed before signing in).
    response = visitor.submit(page, {"step": "signin", "email": "mia.mover@outlook.com",
                                     "password": "Passw0rd!", "submit": "Sign in"})
    assert 'value="consent"' in response.text
    response.url = page.url
    redirect = visitor.submit(response, {"step": "consent", "allow": "Allow"})
    assert query_of(redirect.headers["Location"])["error"] == "access_denied"
    assert isolated_control.scenarios("learn")[0]["hits"] == 1


def test_panel_lists_and_clears_only_its_own_scenarios(qa_live, rp, isolated_control):
    isolated_control.arm("learn", "id_token_wrong_aud", scope="until-cleared",
                account="qa-suite@example.com")
    visitor = Browser()
    first = visitor.get(rp.authorization_request().url)
    page = arm_from_panel(visitor, qa_live.url, first, "authorize_server_error")
    assert "authorize_server_error" in page.text

    cleared = visitor.post(f"{qa_live.url}/learn/test-scenario/clear", {
        "qa-clear-csrf_token": _hidden(page.text, "qa-clear-csrf_token"),
        "qa-clear-next": _hidden(page.text, "qa-clear-next")})
    assert cleared.status_code == 302
    assert [row["scenario"] for row in isolated_control.scenarios("learn")] == ["id_token_wrong_aud"]
    after = visitor.get(urljoin_base(qa_live.url, cleared.headers["Location"]))
    assert "1 test scenario cleared." in after.text
    # The suite's scenario (and the account it names) is not shown to the visitor either.
    assert all("qa-suite@example.com" not in p.text for p in (first, page, after))


def test_unauthenticated_token_requests_do_not_set_off_a_slow_fault(qa_live, rp, isolated_control):
    isolated_control.arm("learn", "token_slow", scope="until-cleared", seconds=3)
    params, auth = _code_for(rp)
    attempts = [
        ({"grant_type": "authorization_code", "code": "made-up"}, None),
        (_exchange_body(rp, params["code"], auth), None),
        (_exchange_body(rp, params["code"], auth), (rp.client_id, "guessed")),
    ]
    for body, basic in attempts:
        started = time.monotonic()
        response = requests.post(rp.metadata["token_endpoint"], data=body, auth=basic, timeout=10)
        elapsed = time.monotonic() - started
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
        assert elapsed < 1.5, elapsed
    assert isolated_control.scenarios("learn")[0]["hits"] == 0
    # The client itself still meets the fault, with its live code.
    started = time.monotonic()
    assert rp.exchange(params["code"], auth.code_verifier)["access_token"]
    assert time.monotonic() - started >= 3


def test_slow_fault_delays_one_request_per_code(qa_live, rp, isolated_control):
    isolated_control.arm("learn", "token_slow", scope="until-cleared", client_id=rp.client_id, seconds=2)
    params, auth = _code_for(rp)
    body = _exchange_body(rp, params["code"], auth)
    timings: list[float] = []
    barrier = threading.Barrier(4)

    def exchange():
        barrier.wait()
        started = time.monotonic()
        rp.raw_token_request(body)
        timings.append(time.monotonic() - started)

    threads = [threading.Thread(target=exchange) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([t for t in timings if t >= 2]) == 1, timings
    assert len([t for t in timings if t < 1.5]) == 3, timings
    with qa_live.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(FaultHit)
                                 .where(FaultHit.stage == "token")) == 1
        db.session.remove()


def test_panel_token_and_userinfo_faults_follow_that_browsers_codes(qa_live, rp, isolated_control):
    visitor = Browser()
    auth = rp.authorization_request()
    page = visitor.get(auth.url)
    page = arm_from_panel(visitor, qa_live.url, page, "token_http_500", scope="next-flow")
    page = arm_from_panel(visitor, qa_live.url, page, "userinfo_sub_mismatch", scope="next-flow")

    # Another browser's code is exchanged and its userinfo answered normally.
    params, other_auth = _code_for(rp)
    token = rp.exchange(params["code"], other_auth.code_verifier)
    claims = rp.validate_id_token(token["id_token"], other_auth.nonce)
    info = requests.get(rp.metadata["userinfo_endpoint"], timeout=5,
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["sub"] == claims["sub"]

    # The visitor's own code meets token_http_500, the next one the userinfo fault.
    params, own = _code_for(rp, visitor, "mia.mover@outlook.com")
    assert rp.raw_token_request(_exchange_body(rp, params["code"], own)).status_code == 500
    second = rp.authorization_request()
    location = visitor.submit(visitor.get(second.url), {"step": "consent", "allow": "Allow"})
    code = query_of(location.headers["Location"])["code"]
    token = rp.exchange(code, second.code_verifier)
    claims = rp.validate_id_token(token["id_token"], second.nonce)
    info = requests.get(rp.metadata["userinfo_endpoint"], timeout=5,
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["sub"] != claims["sub"]
    assert {row["scenario"]: row["hits"] for row in isolated_control.scenarios("learn")} == {
        "token_http_500": 1, "userinfo_sub_mismatch": 1}
