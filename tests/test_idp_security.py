"""The mock providers under attack: redirect_uri matching, code replay, client authentication, PKCE."""
from __future__ import annotations

import time

import pytest
import requests

from idp_mock import create_app
from idp_mock.models import AuthorizationCode, Token, db
from tests.idp_helpers import RP_REDIRECTS, Browser, learn, live, make_config, query_of  # noqa: F401  (fixtures)


def _code_for(rp, email="alex.learner@outlook.com"):
    auth = rp.authorization_request()
    location = Browser().sign_in_and_consent(auth.url, email).headers["Location"]
    return query_of(location)["code"], auth


def _exchange_body(rp, code, auth):
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": auth.code_verifier}


def _userinfo(rp, access_token):
    return requests.get(rp.metadata["userinfo_endpoint"], timeout=5,
                        headers={"Authorization": f"Bearer {access_token}"})


# ---------------------------------------------------------------- redirect_uri: exact match only

REGISTERED = RP_REDIRECTS["learn"]  # http://rp.example.com/callback/learn
NEAR_MISSES = [
    REGISTERED + "/",                                    # trailing slash
    REGISTERED + "/extra",                               # prefix match
    REGISTERED + "x",                                    # prefix without a slash
    REGISTERED[:-1],                                     # shorter
    REGISTERED.upper(),                                  # case of everything
    REGISTERED.replace("rp.example.com", "RP.example.com"),  # case of the host
    REGISTERED.replace("/callback/", "/Callback/"),      # case of the path
    REGISTERED.replace("http://", "https://"),           # scheme
    REGISTERED.replace("rp.example.com", "rp.example.com:8080"),  # port
    REGISTERED + "?next=https://evil.example",           # added query
    REGISTERED + "#fragment",                            # fragment
    REGISTERED.replace("/callback/", "/callback/../callback/"),  # dot segments
    REGISTERED.replace("/callback/learn", "/callback%2Flearn"),  # encoded slash
    REGISTERED.replace("http://", "http://rp.example.com@evil.example/"),  # userinfo trick
    "http://evil.example/callback/learn",                # another host
    "//rp.example.com/callback/learn",                   # scheme-relative
    " " + REGISTERED,                                    # leading space
    "",                                                  # empty
]


@pytest.mark.parametrize("redirect_uri", NEAR_MISSES)
def test_redirect_uri_must_match_exactly(learn, redirect_uri):
    response = Browser().get(learn.raw_authorization_url(
        redirect_uri=redirect_uri, code_challenge="a" * 43, code_challenge_method="S256"))
    assert response.status_code == 400
    assert "Location" not in response.headers  # never redirects to an unregistered place
    assert "not valid" in response.text


@pytest.mark.parametrize("client_id", ["nobody", "", "rp-learn ", "RP-LEARN", "rp-pu", "rp-learn\x00"])
def test_unknown_client_never_redirects(learn, client_id):
    response = Browser().get(learn.raw_authorization_url(client_id=client_id,
                                                         code_challenge="a" * 43,
                                                         code_challenge_method="S256"))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_bad_redirect_uri_on_post_never_redirects(learn):
    """The sign-in form posts back to authorize: the same check applies to POST."""
    browser = Browser()
    url = learn.raw_authorization_url(redirect_uri="http://evil.example/cb",
                                      code_challenge="a" * 43, code_challenge_method="S256")
    response = browser.post(url, {"step": "signin", "email": "alex.learner@outlook.com",
                                  "password": "Passw0rd!"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_token_request_with_another_redirect_uri_is_refused(learn):
    code, auth = _code_for(learn)
    response = learn.raw_token_request({**_exchange_body(learn, code, auth),
                                        "redirect_uri": REGISTERED + "/"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


# ---------------------------------------------------------------- authorization code replay

def test_replayed_code_fails_and_revokes_the_tokens_it_issued(live, learn):
    code, auth = _code_for(learn)
    token = learn.exchange(code, auth.code_verifier)
    assert _userinfo(learn, token["access_token"]).status_code == 200

    replay = learn.raw_token_request(_exchange_body(learn, code, auth))
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The token the first exchange issued no longer works.
    revoked = _userinfo(learn, token["access_token"])
    assert revoked.status_code == 401
    assert revoked.json()["error"] == "invalid_token"
    with live.app.app_context():
        item = db.session.scalar(db.select(AuthorizationCode).filter_by(code=code))
        [row] = db.session.scalars(db.select(Token).filter_by(authorization_code_id=item.id))
        assert row.access_token_revoked_at > 0


def test_replay_revokes_only_that_codes_tokens(learn):
    first_code, first_auth = _code_for(learn)
    first = learn.exchange(first_code, first_auth.code_verifier)
    second_code, second_auth = _code_for(learn)
    second = learn.exchange(second_code, second_auth.code_verifier)
    learn.raw_token_request(_exchange_body(learn, first_code, first_auth))
    assert _userinfo(learn, first["access_token"]).status_code == 401
    assert _userinfo(learn, second["access_token"]).status_code == 200


def test_concurrent_exchanges_of_one_code_issue_one_token(live, learn):
    """Two exchanges racing with the same code: one token at most, and the replay revokes it."""
    import threading

    code, auth = _code_for(learn)
    results = []
    barrier = threading.Barrier(4)

    def exchange():
        barrier.wait()
        results.append(learn.raw_token_request(_exchange_body(learn, code, auth)))

    threads = [threading.Thread(target=exchange) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) <= 1
    assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code != 200)
    with live.app.app_context():
        item = db.session.scalar(db.select(AuthorizationCode).filter_by(code=code))
        assert len(db.session.scalars(
            db.select(Token).filter_by(authorization_code_id=item.id)).all()) == len(ok)


def test_code_lifetime_is_at_most_60_seconds(live, learn):
    assert live.app.config["AUTHORIZATION_CODE_EXPIRES_IN"] <= 60
    code, auth = _code_for(learn)
    with live.app.app_context():
        item = db.session.scalar(db.select(AuthorizationCode).filter_by(code=code))
        item.issued_at = int(time.time()) - 61
        db.session.commit()
    response = learn.raw_token_request(_exchange_body(learn, code, auth))
    assert response.json()["error"] == "invalid_grant"


def test_failed_client_authentication_does_not_burn_the_code(learn):
    """Someone holding a stolen code without the secret cannot use it, nor spoil it."""
    code, auth = _code_for(learn)
    stolen = requests.post(learn.metadata["token_endpoint"], data=_exchange_body(learn, code, auth),
                           auth=(learn.client_id, "guessed"), timeout=5)
    assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_client"
    without_verifier = learn.raw_token_request({k: v for k, v in _exchange_body(learn, code, auth).items()
                                                if k != "code_verifier"})
    assert without_verifier.json()["error"] == "invalid_request"
    assert learn.exchange(code, auth.code_verifier)["access_token"]


@pytest.mark.parametrize("auth_style", ["none", "id_only_in_body", "secret_in_query"])
def test_confidential_client_must_authenticate(learn, auth_style):
    code, auth = _code_for(learn)
    body = _exchange_body(learn, code, auth)
    url = learn.metadata["token_endpoint"]
    if auth_style == "id_only_in_body":
        body["client_id"] = learn.client_id
    if auth_style == "secret_in_query":
        url += f"?client_id={learn.client_id}&client_secret={learn.client_secret}"
    response = requests.post(url, data=body, timeout=5)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_plain_pkce_refused_even_when_verifier_equals_challenge(learn):
    verifier = "v" * 50
    response = Browser().get(learn.raw_authorization_url(
        state="s1", code_challenge=verifier, code_challenge_method="plain"))
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_a_changed_client_secret_applies_at_once(tmp_path):
    """The provider remembers secrets that matched (the hash is slow on purpose): a new secret
    must still replace the old one at the next request, and a wrong one never passes."""
    from idp_mock.services import upsert_client
    from tests.idp_helpers import CLIENT_IDS, CLIENT_SECRETS, rp_clients

    app = create_app(make_config(tmp_path / "idp.sqlite"))
    client = app.test_client()

    def token_status(secret):
        return client.post("/learn/token", data={"grant_type": "client_credentials"},
                           auth=(CLIENT_IDS["learn"], secret)).status_code

    old = CLIENT_SECRETS["learn"]
    assert token_status(old) == 200
    assert token_status(old) == 200
    assert token_status(old + "x") == 401
    assert token_status(old[:-1]) == 401
    with app.app_context():
        upsert_client({**rp_clients()[0], "client_secret": "a-brand-new-secret"})
        db.session.commit()
    assert token_status(old) == 401
    assert token_status("a-brand-new-secret") == 200
    assert token_status(old) == 401
