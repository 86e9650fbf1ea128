"""The transcript API of the mock providers: client-credentials tokens, one subject's or many
subjects' transcripts, and what a learner's token may not read."""
from __future__ import annotations


import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import query_of
from tests.fixtures.idp_helpers import run_flow

from idp_mock.models import Account  # noqa: E402
from idp_mock.models import db  # noqa: E402


# ---------------------------------------------------------------- client credentials


def _service_token(rp, scope="transcript.read"):
    session = OAuth2Session(rp.client_id, rp.client_secret, scope=scope)
    return session.fetch_token(rp.metadata["token_endpoint"],
                               grant_type="client_credentials")


def _sub(live, issuer, email):
    with live.app.app_context():
        return db.session.scalar(db.select(Account.subject).filter_by(issuer=issuer,
                                                                       email=email))


def test_client_credentials_and_transcript_api(live, learn, pu):
    token = _service_token(learn)
    assert token["scope"] == "transcript.read"
    sub = _sub(live, "learn", "alex.learner@outlook.com")
    response = requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": sub},
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == sub
    by_code = {item["code"]: item for item in body["items"]}
    assert by_code["AZ-104"] == {**by_code["AZ-104"], "kind": "certification",
                                 "level": "intermediate", "completed_at": "2026-09-15"}
    assert by_code["AZ-305"]["level"] == "advanced"
    assert by_code["AZ-305"]["completed_at"] == "2026-10-20"
    assert any(item["kind"] == "assessment" for item in body["items"])
    assert all(set(item) >= {"id", "kind", "title", "level", "code", "completed_at"}
               for item in body["items"])

    # PU transcript with the PU token
    pu_token = _service_token(pu)
    pat = _sub(live, "partner-university", "pat.pu@outlook.com")
    items = requests.get(f"{pu.issuer_url}/api/transcript", params={"sub": pat},
                         headers={"Authorization": f"Bearer {pu_token['access_token']}"}
                         ).json()["items"]
    assert [i["kind"] for i in items].count("assessment") >= 2

    # tokens do not cross issuers
    cross = requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": sub},
                         headers={"Authorization": f"Bearer {pu_token['access_token']}"})
    assert cross.status_code == 401
    # no token / unknown sub
    assert requests.get(f"{learn.issuer_url}/api/transcript",
                        params={"sub": sub}).status_code == 401
    unknown = requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": "nope"},
                           headers={"Authorization": f"Bearer {token['access_token']}"})
    assert unknown.status_code == 404


def test_transcripts_of_many_subjects_in_one_call(live, learn, pu):
    """The refresh's form: one POST answers a page of subjects (unknown ones listed apart)."""
    token = _service_token(learn)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    alex = _sub(live, "learn", "alex.learner@outlook.com")
    single = requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": alex}, headers=auth).json()
    pat = _sub(live, "partner-university", "pat.pu@outlook.com")
    response = requests.post(f"{learn.issuer_url}/api/transcripts", headers=auth,
                             json={"subs": [alex, "nope", alex, pat]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transcripts"] == [single]  # the same answer as the single-subject form
    assert body["unknown"] == ["nope", pat]  # another issuer's subject is unknown here
    too_many = requests.post(f"{learn.issuer_url}/api/transcripts", headers=auth,
                             json={"subs": [f"s{i}" for i in range(501)]})
    assert too_many.status_code == 400 and "500" in too_many.json()["error_description"]
    for bad in ({"subs": "abc"}, {"subs": [1]}, [], {"subs": ["x" * 65]}):
        assert requests.post(f"{learn.issuer_url}/api/transcripts", headers=auth,
                             json=bad).status_code == 400
    assert requests.post(f"{learn.issuer_url}/api/transcripts", json={"subs": [alex]}).status_code == 401
    pu_auth = {"Authorization": f"Bearer {_service_token(pu)['access_token']}"}
    assert requests.post(f"{learn.issuer_url}/api/transcripts", headers=pu_auth,
                         json={"subs": [alex]}).status_code == 401


def test_a_learners_token_never_reads_many_transcripts(live, learn):
    """A learner's token (even with transcript.read) reads only that learner's own transcript."""
    auth = learn.authorization_request(scope="openid transcript.read")
    response = Browser().sign_in_and_consent(auth.url, "alex.learner@outlook.com", "Passw0rd!")
    code = query_of(response.headers["Location"])["code"]
    token = learn.exchange(code, auth.code_verifier)
    assert "transcript.read" in token["scope"]
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    alex = _sub(live, "learn", "alex.learner@outlook.com")
    assert requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": alex},
                        headers=headers).status_code == 200
    refused = requests.post(f"{learn.issuer_url}/api/transcripts", headers=headers, json={"subs": [alex]})
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied"


def test_transcript_api_needs_transcript_scope(live, learn):
    user_token, _, _ = run_flow(learn, "alex.learner@outlook.com")
    sub = _sub(live, "learn", "alex.learner@outlook.com")
    response = requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": sub},
                            headers={"Authorization": f"Bearer {user_token['access_token']}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
