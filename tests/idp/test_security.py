"""The mock providers under attack: redirect_uri matching, code replay (also by a concurrent
redemption), client authentication, PKCE."""
from __future__ import annotations

import time

import pytest
import requests
from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy import func, select, update

from idp_mock import create_app
from idp_mock.demo import seed_demo
from idp_mock.models import Account, AuthorizationCode, Token, db
from idp_mock.oauth2 import AuthorizationCodeGrant
from tests.fixtures.idp_helpers import RP_REDIRECTS, Browser, make_config, query_of


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
    from tests.fixtures.idp_helpers import CLIENT_IDS, CLIENT_SECRETS, rp_clients

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


# -------- An authorization code redeemed by a concurrent request cannot be redeemed again. --------
# An authorization code redeemed by a concurrent request cannot be redeemed again.


def test_second_redemption_of_a_code_is_invalid_grant_and_saves_no_token(tmp_path):
    app = create_app(make_config(tmp_path / "idp.sqlite"))
    with app.app_context():
        seed_demo()
        account = db.session.scalar(select(Account).filter_by(issuer="learn", email="alex.learner@outlook.com"))
        code = AuthorizationCode(issuer="learn", code="race-code", client_id="partner-center-learn",
                                 redirect_uri="http://localhost/cb", scope="openid", user_id=account.id,
                                 nonce="n", auth_time=int(time.time()), issued_at=int(time.time()))
        db.session.add(code)
        db.session().expire_on_commit = False  # the code stays loaded, as in the token request
        db.session.commit()
        tokens_before = db.session.scalar(select(func.count()).select_from(Token))

        # Another worker redeems the code between our lookup and our claim (it marks it used;
        # the row stays so that a later replay can be recognised and revoke its tokens).
        with db.engine.begin() as other:
            other.execute(update(AuthorizationCode).where(AuthorizationCode.code == "race-code")
                          .values(used_at=int(time.time())))

        grant = AuthorizationCodeGrant.__new__(AuthorizationCodeGrant)
        # The claim comes before any token is generated: the losing request issues nothing.
        with pytest.raises(InvalidGrantError):
            grant.authenticate_user(code)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Token)) == tokens_before
