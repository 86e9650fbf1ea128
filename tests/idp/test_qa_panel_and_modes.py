"""The providers' QA panel and modes: the panel's scenarios, arming from the sign-in page, QA mode
with and without a control token, the demo reset, key rotation from the CLI, and the clock the
providers share with Partner Center."""
from __future__ import annotations

import html

import requests

from tests.fixtures.idp_helpers import Browser as ProviderBrowser
from tests.fixtures.idp_helpers import CHEAP_HASH


# ---------------------------------------------------------------- panel and QA mode


def test_panel_scenario_list_follows_issuer_and_language(idp):
    """The list's markup is kept per process: each issuer and language still gets its own."""
    import re

    def scenario_select(issuer, client_id, lang):
        url = (f"{idp.url}/{issuer}/authorize?response_type=code&client_id={client_id}"
               f"&redirect_uri=http%3A%2F%2Flocalhost%2Flink%2F{issuer}%2Fcallback&scope=openid"
               "&state=s1&nonce=n1&code_challenge=" + "a" * 43
               + f"&code_challenge_method=S256&lang={lang}")
        page = ProviderBrowser().get(url)
        assert page.status_code == 200
        return html.unescape(re.search(r'<select[^>]*id="qa-scenario".*?</select>', page.text,
                                       re.S).group(0))

    for _round in range(2):
        learn_en = scenario_select("learn", "partner-center-learn", "en")
        learn_fr = scenario_select("learn", "partner-center-learn", "fr")
        pu_zh = scenario_select("partner-university", "partner-center-pu", "zh_Hant_TW")
        assert '<optgroup label="In the ID token">' in learn_en
        assert '<optgroup label="Dans le jeton d\'ID">' in learn_fr
        assert '<optgroup label="於識別碼權杖中">' in pu_zh
        assert 'value="id_token_mcid_missing"' in learn_en and 'value="id_token_mcid_missing"' in learn_fr
        assert 'value="id_token_mcid_missing"' not in pu_zh  # a Learn-only scenario
        assert 'value="id_token_wrong_iss"' in pu_zh and "selected" not in learn_en


def test_sign_in_page_panel_arms_and_clears_a_scenario(idp, control):
    from tests.fixtures.idp_helpers import csrf_token

    browser = ProviderBrowser()
    url = (f"{idp.url}/learn/authorize?response_type=code&client_id=partner-center-learn"
           "&redirect_uri=http%3A%2F%2Flocalhost%2Flink%2Flearn%2Fcallback&scope=openid"
           "&state=s1&nonce=n1&code_challenge=" + "a" * 43 + "&code_challenge_method=S256")
    page = browser.get(url)
    assert page.status_code == 200 and "Test scenario" in page.text
    assert '<optgroup label="In the ID token">' in page.text
    assert 'id="qa-scenario"' in page.text and page.text.count('id="csrf_token"') == 1
    response = browser.post(f"{idp.url}/learn/test-scenario/", {
        "qa-csrf_token": csrf_token(page.text), "qa-scenario": "id_token_wrong_iss",
        "qa-scope": "next-flow", "qa-client_id": "partner-center-learn",
        "qa-next": url.replace(idp.url, "")})
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/learn/authorize?")
    [armed] = control.scenarios("learn")
    assert (armed["scenario"], armed["client_id"], armed["scope"]) == (
        "id_token_wrong_iss", "partner-center-learn", "next-flow")
    page = browser.get(url)
    assert "Test scenario armed: id_token_wrong_iss." in html.unescape(page.text)

    # No CSRF token: refused, nothing armed. An off-site "next" is not followed.
    refused = browser.post(f"{idp.url}/learn/test-scenario/", {
        "qa-scenario": "token_http_500", "qa-scope": "next-flow",
        "qa-next": "https://evil.example/"})
    assert refused.status_code in (302, 400)
    assert "evil.example" not in refused.headers.get("Location", "")
    assert len(control.scenarios("learn")) == 1

    cleared = browser.post(f"{idp.url}/learn/test-scenario/clear", {
        "qa-clear-csrf_token": csrf_token(page.text), "qa-clear-next": url.replace(idp.url, "")})
    assert cleared.status_code == 302
    assert control.scenarios("learn") == []


def test_qa_mode_without_token_has_panel_but_no_api(tmp_path, monkeypatch):
    from idp_mock import create_app
    from tests.fixtures.idp_helpers import make_config

    monkeypatch.delenv("IDP_CONTROL_TOKEN", raising=False)
    app = create_app(make_config(tmp_path / "idp.sqlite", IDP_QA_MODE=True,
                                 IDP_CONTROL_TOKEN=None, IDP_PASSWORD_HASH=CHEAP_HASH))
    client = app.test_client()
    for path in ("/qa/scenarios/catalog", "/learn/qa/scenarios"):
        assert client.get(path, headers={"Authorization": "Bearer "}).status_code == 404
        assert client.get(path, headers={"Authorization": "Bearer None"}).status_code == 404
    page = client.get("/learn/authorize?response_type=code&client_id=rp-learn"
                      "&redirect_uri=http%3A%2F%2Frp.example.com%2Fcallback%2Flearn"
                      "&scope=openid&state=s&nonce=n&code_challenge=" + "a" * 43 +
                      "&code_challenge_method=S256")
    assert "Test scenario" in page.get_data(as_text=True)


def test_qa_mode_off_has_no_panel_and_no_api(tmp_path):
    from idp_mock import create_app
    from tests.fixtures.idp_helpers import make_config

    app = create_app(make_config(tmp_path / "idp.sqlite", IDP_QA_MODE=False,
                                 IDP_CONTROL_TOKEN="some-token", IDP_PASSWORD_HASH=CHEAP_HASH))
    client = app.test_client()
    auth = {"Authorization": "Bearer some-token"}
    assert client.get("/qa/scenarios/catalog", headers=auth).status_code == 404
    assert client.get("/learn/qa/scenarios", headers=auth).status_code == 404
    assert client.post("/learn/qa/rotate-key", headers=auth, json={}).status_code == 404
    assert client.post("/qa/reset", headers=auth).status_code == 404
    page = client.get("/learn/authorize?response_type=code&client_id=rp-learn"
                      "&redirect_uri=http%3A%2F%2Frp.example.com%2Fcallback%2Flearn"
                      "&scope=openid&state=s&nonce=n&code_challenge=" + "a" * 43 +
                      "&code_challenge_method=S256")
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert "Test scenario" not in page.get_data(as_text=True)


def test_demo_reset_clears_armed_scenarios(tmp_path):
    from idp_mock import create_app
    from idp_mock.demo import reset_demo
    from idp_mock.qa.arming import arm_scenario, list_scenarios
    from tests.fixtures.idp_helpers import make_config

    app = create_app(make_config(tmp_path / "idp.sqlite", IDP_PASSWORD_HASH=CHEAP_HASH))
    with app.app_context():
        arm_scenario("learn", "token_http_500", scope="until-cleared")
        arm_scenario("partner-university", "authorize_access_denied")
        reset_demo()
        assert list_scenarios("learn") == [] and list_scenarios("partner-university") == []


def test_rotate_signing_key_cli_grace_seconds(tmp_path):
    from idp_mock import create_app
    from tests.fixtures.idp_helpers import make_config

    app = create_app(make_config(tmp_path / "idp.sqlite", IDP_PASSWORD_HASH=CHEAP_HASH,
                                 IDP_KEY_ROTATION_GRACE_SECONDS=3600))
    client, runner = app.test_client(), app.test_cli_runner()

    def kids():
        return [k["kid"] for k in client.get("/learn/jwks.json").json["keys"]]

    first = kids()
    assert runner.invoke(args=["rotate-signing-key", "--issuer", "learn"]).exit_code == 0
    second = kids()
    assert len(second) == 2 and second[0] == first[0]  # configured grace: old key still published
    result = runner.invoke(args=["rotate-signing-key", "--issuer", "learn", "--grace-seconds", "0"])
    assert result.exit_code == 0, result.output
    third = kids()
    assert len(third) == 1 and third[0] not in second
    assert client.get("/partner-university/jwks.json").json["keys"][0]["kid"] not in first + third


# ---------------------------------------------------------------- the shared clock


def test_completions_are_dated_by_the_clock_partner_center_shares(idp, control):
    """A completion (QA API or the learner's own account page) takes the simulated date."""
    import datetime as dt

    from tests.fixtures.idp_helpers import csrf_token

    real_today = dt.datetime.now(dt.timezone.utc).date()
    assert control.clock() == {"offset_seconds": 0, "today": real_today.isoformat()}
    control.create_account("learn", email="qa.clock@outlook.com", name="QA Clock", mcid="generate")
    try:
        moved = control.set_clock(40 * 86400)
        simulated = real_today + dt.timedelta(days=40)
        assert moved == {"offset_seconds": 40 * 86400, "today": simulated.isoformat()}
        item = control.add_transcript_item("learn", "qa.clock@outlook.com", kind="training",
                                           title="Dated by the shared clock")
        assert item["completed_at"] == simulated.isoformat()
        # The learner's own "Mark as completed" on the account page.
        learner = ProviderBrowser()
        page = learner.get(idp.url + "/learn/signin")
        signed = learner.post(idp.url + "/learn/signin", {
            "csrf_token": csrf_token(page.text), "email": "qa.clock@outlook.com",
            "password": "Passw0rd!", "submit": "Sign in"})
        assert signed.status_code == 302, signed.text
        account_page = learner.get(idp.url + "/learn/account")
        assert account_page.status_code == 200
        done = learner.post(idp.url + "/learn/account/transcript",
                            {"csrf_token": csrf_token(account_page.text), "item": "AZ-104"})
        assert done.status_code == 302
        dates = {i["title"]: i["completed_at"]
                 for i in control.account("learn", "qa.clock@outlook.com")["transcript"]}
        assert len(dates) == 2 and set(dates.values()) == {simulated.isoformat()}, dates
        # Bad input is a 400 naming the field and changes nothing.
        for body in ({"offset_seconds": "40"}, {"offset_seconds": True}, {"offset_seconds": 1.5},
                     {"offset_seconds": 3651 * 86400}, {"offset": 5}, {}):
            response = requests.put(idp.url + "/qa/clock", json=body, headers=control.http.headers,
                                    timeout=5)
            assert response.status_code == 400, body
        assert control.clock()["offset_seconds"] == 40 * 86400
    finally:
        control.set_clock(0)
        control.delete_account("learn", "qa.clock@outlook.com")
    assert control.clock()["today"] == real_today.isoformat()


def test_the_shared_clock_is_kept_in_the_database_so_every_worker_agrees(tmp_path):
    """Two provider processes (workers) on one database: a clock set through one dates the other's
    completions; the demo reset puts it back to real time."""
    import datetime as dt

    from idp_mock import create_app
    from idp_mock.demo import seed_demo
    from tests.fixtures.idp_helpers import make_config

    config = make_config(tmp_path / "idp.sqlite", IDP_QA_MODE=True, IDP_CONTROL_TOKEN="t" * 32)
    first, second = create_app(config), create_app(dict(config))
    with first.app_context():
        seed_demo()
    auth = {"Authorization": "Bearer " + "t" * 32}
    assert first.test_client().put("/qa/clock", json={"offset_seconds": 12 * 86400},
                                   headers=auth).status_code == 200
    simulated = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=12)).date().isoformat()
    assert second.test_client().get("/qa/clock", headers=auth).get_json()["today"] == simulated
    item = second.test_client().post("/learn/qa/accounts/alex.learner@outlook.com/transcript",
                                     json={"catalog": "SC-900"}, headers=auth).get_json()
    assert item["completed_at"] == simulated
    assert second.test_client().post("/qa/reset", headers=auth).status_code == 200
    assert first.test_client().get("/qa/clock", headers=auth).get_json()["offset_seconds"] == 0
