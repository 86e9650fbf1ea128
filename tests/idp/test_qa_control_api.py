"""The providers' QA control API and "Test scenario" panel, over real HTTP."""
from __future__ import annotations

import logging
import threading

import pytest
import requests

from idp_mock.qa.catalog import CATALOG
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
