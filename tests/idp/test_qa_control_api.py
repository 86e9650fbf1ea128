"""The providers' QA control API and "Test scenario" panel, over real HTTP."""
from __future__ import annotations

import html
import logging
import threading

import pytest
import requests

from idp_mock.qa.catalog import CATALOG
from tests.fixtures.idp_helpers import Browser as ProviderBrowser
from tests.fixtures.idp_helpers import CHEAP_HASH
from tests.fixtures.qa_control import control_token


def error_of(response):
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic abc", "Bearer ",
                                    "bearer " + "x" * 200])
@pytest.mark.parametrize("method,path", [("GET", "/qa/scenarios/catalog"),
                                         ("GET", "/learn/qa/scenarios"),
                                         ("POST", "/learn/qa/scenarios"),
                                         ("DELETE", "/partner-university/qa/scenarios"),
                                         ("POST", "/learn/qa/accounts"),
                                         ("POST", "/learn/qa/clients"),
                                         ("DELETE", "/learn/qa/clients/partner-center-learn"),
                                         ("POST", "/learn/qa/rotate-key")])
def test_control_api_needs_the_bearer_token(idp, header, method, path):
    headers = {"Authorization": header} if header else {}
    response = requests.request(method, idp.url + path, headers=headers,
                                json={"scenario": "token_http_500"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["field"] == "Authorization"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_is_never_logged_or_echoed(idp, control, caplog):
    caplog.set_level(logging.DEBUG)
    token = control_token()
    control.arm("learn", "token_http_500")
    bad = requests.get(idp.url + "/learn/qa/scenarios",
                       headers={"Authorization": "Bearer " + token + "x"}, timeout=5)
    assert bad.status_code == 401 and token not in bad.text
    assert token not in caplog.text


# ---------------------------------------------------------------- scenarios


def test_catalog_lists_every_scenario_with_its_stage(control):
    catalog = {s["name"]: s for s in control.catalog()}
    assert set(catalog) == set(CATALOG)
    assert {s["stage"] for s in catalog.values()} == {"authorize", "token", "id_token", "userinfo"}
    assert catalog["token_slow"]["params"]["seconds"]["default"] == 2
    assert catalog["id_token_mcid_missing"]["issuers"] == ["learn"]


def test_arm_list_clear_one_and_all(control):
    first = control.arm("learn", "token_slow", scope="until-cleared", client_id="c1",
                        account="QA@Example.com", seconds=3)
    assert (first["scenario"], first["scope"], first["client_id"], first["account"],
            first["params"], first["consumed"], first["stage"]) == (
        "token_slow", "until-cleared", "c1", "qa@example.com", {"seconds": 3}, False, "token")
    second = control.arm("learn", "authorize_access_denied")
    control.arm("partner-university", "userinfo_sub_mismatch")
    assert [s["id"] for s in control.scenarios("learn")] == [first["id"], second["id"]]

    assert control.clear("learn", first["id"]) == 1
    assert [s["id"] for s in control.scenarios("learn")] == [second["id"]]
    gone = requests.delete(f"{control.base_url}/learn/qa/scenarios/{first['id']}",
                           headers=control.http.headers, timeout=5)
    assert gone.status_code == 404 and gone.json()["field"] == "id"
    # An issuer only ever sees and clears its own scenarios.
    assert control.clear("learn") == 1
    assert len(control.scenarios("partner-university")) == 1


@pytest.mark.parametrize("body,field", [
    ({"scenario": "no_such_thing"}, "scenario"),
    ({}, "scenario"),
    ({"scenario": ["token_http_500"]}, "scenario"),
    ({"scenario": "token_http_500", "scope": "forever"}, "scope"),
    ({"scenario": "token_slow", "params": {"seconds": 0}}, "params.seconds"),
    ({"scenario": "token_slow", "params": {"seconds": 61}}, "params.seconds"),
    ({"scenario": "token_slow", "params": {"seconds": "2"}}, "params.seconds"),
    ({"scenario": "token_slow", "params": {"seconds": True}}, "params.seconds"),
    ({"scenario": "token_slow", "params": {"minutes": 1}}, "params.minutes"),
    ({"scenario": "token_slow", "params": [1]}, "params"),
    ({"scenario": "token_http_500", "client_id": ""}, "client_id"),
    ({"scenario": "token_http_500", "account": 5}, "account"),
    ({"scenario": "token_http_500", "colour": "red"}, "colour"),
])
def test_invalid_scenario_is_400_with_field_and_stores_nothing(control, body, field):
    response = requests.post(control.base_url + "/learn/qa/scenarios", json=body,
                             headers=control.http.headers, timeout=5)
    assert error_of(response)["field"] == field
    assert control.scenarios("learn") == []


def test_mcid_scenario_is_learn_only_and_body_must_be_json(control):
    response = requests.post(control.base_url + "/partner-university/qa/scenarios",
                             json={"scenario": "id_token_mcid_missing"},
                             headers=control.http.headers, timeout=5)
    assert error_of(response)["field"] == "scenario"
    for data in ("not json", "[1, 2]", ""):
        response = requests.post(control.base_url + "/learn/qa/scenarios", data=data,
                                 headers={**control.http.headers,
                                          "Content-Type": "application/json"}, timeout=5)
        assert error_of(response)["field"] == "body"
    assert requests.get(control.base_url + "/nowhere/qa/scenarios",
                        headers=control.http.headers, timeout=5).status_code == 404


def test_next_flow_scenario_is_claimed_by_exactly_one_concurrent_flow(idp, control):
    from idp_mock.qa.faults import hit

    control.arm("learn", "token_http_500", client_id="racer")
    winners = []
    barrier = threading.Barrier(4)

    def flow():
        with idp.app.app_context():
            barrier.wait()
            row = hit("learn", "token", "racer", None)
            if row is not None:
                winners.append(row.id)

    threads = [threading.Thread(target=flow) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(winners) == 1
    [row] = control.scenarios("learn")
    assert row["consumed"] is True and row["hits"] == 1 and row["consumed_at"]


# ---------------------------------------------------------------- accounts


def test_account_lifecycle_over_http(control):
    created = control.create_account(
        "learn", email="QA.Person@outlook.com", name="QA Person", mcid="generate",
        transcript=[{"catalog": "AZ-104", "completed_at": "2026-10-01"},
                    {"kind": "training", "title": "Custom training"}])
    try:
        assert created["email"] == "qa.person@outlook.com"
        assert created["kind"] == "personal" and len(created["mcid"]) == 9
        assert {(i["code"], i["title"]) for i in created["transcript"]} == {
            ("AZ-104", "Microsoft Certified: Azure Administrator Associate"),
            (None, "Custom training")}

        item = control.add_transcript_item("learn", "qa.person@outlook.com", kind="assessment",
                                           title="Extra assessment", level="advanced")
        assert item["kind"] == "assessment" and item["id"].startswith("tr-")
        updated = control.update_account("learn", "qa.person@outlook.com", mcid=None,
                                         name="Renamed Person")
        assert updated["mcid"] is None and updated["name"] == "Renamed Person"
        updated = control.update_account("learn", "qa.person@outlook.com", mcid="12345678")
        assert updated["mcid"] == "12345678"
        assert len(control.account("learn", "qa.person@outlook.com")["transcript"]) == 3
    finally:
        assert control.delete_account("learn", "qa.person@outlook.com") == {
            "deleted": "qa.person@outlook.com"}
    missing = requests.get(control.base_url + "/learn/qa/accounts/qa.person@outlook.com",
                           headers=control.http.headers, timeout=5)
    assert missing.status_code == 404 and missing.json()["field"] == "email"


def test_work_account_with_attached_msa(control):
    work = control.create_account("learn", email="qa.work@contoso.com", kind="work",
                                  mcid="223344556", msa_email="qa.personal@outlook.com")
    try:
        assert work["kind"] == "work" and work["msa_attached"] is True
        assert {a["email"] for a in work["profile_accounts"]} == {
            "qa.work@contoso.com", "qa.personal@outlook.com"}
        personal = control.account("learn", "qa.personal@outlook.com")
        assert personal["mcid"] == "223344556" and personal["kind"] == "personal"
        again = requests.patch(control.base_url + "/learn/qa/accounts/qa.work@contoso.com",
                               json={"msa_email": "another@outlook.com"},
                               headers=control.http.headers, timeout=5)
        assert error_of(again)["field"] == "msa_email"
    finally:
        control.delete_account("learn", "qa.personal@outlook.com")
        control.delete_account("learn", "qa.work@contoso.com")


@pytest.mark.parametrize("issuer,body,field", [
    ("learn", {}, "email"),
    ("learn", {"email": "not-an-email"}, "email"),
    ("learn", {"email": "alex.learner@outlook.com"}, "email"),  # exists (demo data)
    ("learn", {"email": "x@outlook.com", "kind": "robot"}, "kind"),
    ("learn", {"email": "x@outlook.com", "password": "short"}, "password"),
    ("learn", {"email": "x@outlook.com", "mcid": "12ab"}, "mcid"),
    ("learn", {"email": "x@outlook.com", "mcid": "987654321"}, "mcid"),  # Alex's MCID
    ("learn", {"email": "x@outlook.com", "mcid": 123456789}, "mcid"),
    ("learn", {"email": "x@outlook.com", "msa_email": "y@outlook.com"}, "msa_email"),
    ("learn", {"email": "x@outlook.com", "transcript": "AZ-104"}, "transcript"),
    ("learn", {"email": "x@outlook.com", "transcript": [{"kind": "badge", "title": "t"}]},
     "transcript[0].kind"),
    ("learn", {"email": "x@outlook.com", "transcript": [{"catalog": "NOPE"}]},
     "transcript[0].catalog"),
    ("learn", {"email": "x@outlook.com", "transcript": [{"kind": "training", "title": "t",
                                                         "completed_at": "yesterday"}]},
     "transcript[0].completed_at"),
    ("learn", {"email": "x@outlook.com", "age": 3}, "age"),
    ("partner-university", {"email": "x@outlook.com", "kind": "work"}, "kind"),
    ("partner-university", {"email": "x@outlook.com", "mcid": "123456789"}, "mcid"),
])
def test_invalid_account_is_400_with_field_and_creates_nothing(control, issuer, body, field):
    response = requests.post(f"{control.base_url}/{issuer}/qa/accounts", json=body,
                             headers=control.http.headers, timeout=5)
    assert error_of(response)["field"] == field
    if body.get("email") == "x@outlook.com":
        assert requests.get(f"{control.base_url}/{issuer}/qa/accounts/x@outlook.com",
                            headers=control.http.headers, timeout=5).status_code == 404


def test_invalid_account_update_changes_nothing(control):
    before = control.account("learn", "nina.nomcid@outlook.com")
    for body, field in (({"mcid": "987654321", "name": "Changed"}, "mcid"),
                        ({"kind": None}, "kind"), ({"name": ""}, "name"),
                        ({"email": "new@outlook.com"}, "email")):
        response = requests.patch(control.base_url + "/learn/qa/accounts/nina.nomcid@outlook.com",
                                  json=body, headers=control.http.headers, timeout=5)
        assert error_of(response)["field"] == field
    assert control.account("learn", "nina.nomcid@outlook.com") == before
    response = requests.post(control.base_url + "/learn/qa/accounts/nina.nomcid@outlook.com/"
                             "transcript", json={"kind": "training"},
                             headers=control.http.headers, timeout=5)
    assert error_of(response)["field"] == "title"


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("body,field", [({"grace_seconds": -1}, "grace_seconds"),
                                        ({"grace_seconds": "60"}, "grace_seconds"),
                                        ({"grace_seconds": 10**9}, "grace_seconds"),
                                        ({"grace": 5}, "grace")])
def test_rotate_key_validation(control, body, field):
    kids = requests.get(control.base_url + "/partner-university/jwks.json", timeout=5).json()
    response = requests.post(control.base_url + "/partner-university/qa/rotate-key", json=body,
                             headers=control.http.headers, timeout=5)
    assert error_of(response)["field"] == field
    assert requests.get(control.base_url + "/partner-university/jwks.json",
                        timeout=5).json() == kids


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
