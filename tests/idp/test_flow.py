"""End-to-end tests of the mock OpenID Connect providers, acting as a
third-party relying party against a live server on a loopback port."""

from __future__ import annotations

import time

import pytest
import requests

from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import query_of
from tests.fixtures.idp_helpers import run_flow

from idp_mock.models import AuthorizationCode  # noqa: E402
from idp_mock.models import db  # noqa: E402

ISSUERS = ("learn", "partner-university")


# ---------------------------------------------------------------- discovery


@pytest.mark.parametrize("issuer", ISSUERS)
def test_discovery_document(live, issuer):
    doc = requests.get(f"{live.url}/{issuer}/.well-known/openid-configuration").json()
    base = f"{live.url}/{issuer}"
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == base + "/authorize"
    assert doc["token_endpoint"] == base + "/token"
    assert doc["userinfo_endpoint"] == base + "/userinfo"
    assert doc["jwks_uri"] == base + "/jwks.json"
    assert doc["end_session_endpoint"] == base + "/logout"
    assert doc["response_types_supported"] == ["code"]
    assert doc["grant_types_supported"] == [
        "authorization_code", "refresh_token", "client_credentials"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["scopes_supported"] == [
        "openid", "profile", "email", "offline_access", "transcript.read"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "none"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    for claim in ("sub", "name", "email", "email_verified", "account_type"):
        assert claim in doc["claims_supported"]
    assert ("mcid" in doc["claims_supported"]) == (issuer == "learn")


def test_discovery_ignores_request_host(live):
    doc = requests.get(f"{live.url}/learn/.well-known/openid-configuration",
                       headers={"Host": "evil.example"}).json()
    assert doc["issuer"] == f"{live.url}/learn"


def test_jwks_have_distinct_kids_per_issuer(live):
    kids = {}
    for issuer in ISSUERS:
        keys = requests.get(f"{live.url}/{issuer}/jwks.json").json()["keys"]
        assert keys and all(k["kid"] and k["kty"] == "RSA" for k in keys)
        assert all("d" not in k for k in keys), "private key material leaked"
        kids[issuer] = {k["kid"] for k in keys}
    assert not kids["learn"] & kids["partner-university"]


def test_unknown_issuer_404_and_index(live):
    assert requests.get(f"{live.url}/contoso/.well-known/openid-configuration").status_code == 404
    assert requests.get(f"{live.url}/healthz").json() == {"status": "ok"}
    index = requests.get(f"{live.url}/").text
    assert f"{live.url}/learn/.well-known/openid-configuration" in index
    assert f"{live.url}/partner-university/.well-known/openid-configuration" in index


# ---------------------------------------------------------------- code flow


def test_learn_flow_alex_has_mcid(learn):
    token, claims, _ = run_flow(learn, "alex.learner@outlook.com")
    assert claims["email"] == "alex.learner@outlook.com"
    assert claims["name"] == "Alex Learner"
    assert claims["email_verified"] is True
    assert claims["account_type"] == "personal"
    assert claims["mcid"] == "987654321"
    assert claims["aud"] == [learn.client_id]
    assert claims["exp"] - claims["iat"] == 3600
    assert token["token_type"].lower() == "bearer"

    info = requests.get(learn.metadata["userinfo_endpoint"],
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info == {k: claims[k] for k in
                    ("sub", "name", "email", "email_verified", "account_type", "mcid")}


def test_learn_flow_nina_has_no_mcid(learn):
    _, claims, _ = run_flow(learn, "nina.nomcid@outlook.com")
    assert "mcid" not in claims
    assert claims["account_type"] == "personal"


def test_learn_flow_walt_is_work_account(learn):
    _, claims, _ = run_flow(learn, "walt.work@contoso.com")
    assert claims["account_type"] == "work"
    assert claims["mcid"] == "123450001"


def test_partner_university_flow(pu):
    token, claims, _ = run_flow(pu, "pat.pu@outlook.com")
    assert claims["iss"] == pu.issuer_url
    assert claims["account_type"] == "personal"
    assert "mcid" not in claims
    # client_secret_post works as well
    browser = Browser()
    auth = pu.authorization_request()
    location = browser.sign_in_and_consent(auth.url, "sam.student@outlook.com").headers["Location"]
    token = pu.exchange(query_of(location)["code"], auth.code_verifier,
                        method="client_secret_post")
    assert pu.validate_id_token(token["id_token"], auth.nonce)["name"] == "Sam Student"


def test_subjects_are_stable_and_opaque(learn):
    _, first, _ = run_flow(learn, "mia.mover@outlook.com")
    _, second, _ = run_flow(learn, "mia.mover@outlook.com")
    assert first["sub"] == second["sub"]
    assert "@" not in first["sub"] and len(first["sub"]) >= 32


def test_existing_session_goes_straight_to_consent(learn):
    browser = Browser()
    run_flow(learn, "carl.cooloff@outlook.com", browser=browser)
    auth = learn.authorization_request()
    page = browser.get(auth.url)
    assert 'value="consent"' in page.text and "carl.cooloff@outlook.com" in page.text


def test_wrong_password_stays_on_sign_in(learn):
    browser = Browser()
    page = browser.get(learn.authorization_request().url)
    again = browser.submit(page, {"step": "signin", "email": "alex.learner@outlook.com",
                                  "password": "nope-nope"})
    assert again.status_code == 200
    assert 'value="signin"' in again.text and "not recognised" in again.text


def test_sign_in_form_kept_markup_follows_language_and_errors(learn):
    """An empty sign-in form's fields are rendered once per language: each language still gets
    its own labels, and a form with an error shows what was typed and marks the field."""
    browser = Browser()
    english = browser.get(learn.authorization_request(ui_locales="en").url).text
    french = Browser().get(learn.authorization_request(ui_locales="fr").url).text
    assert '<label class="idp-label" for="email">Email</label>' in english
    assert 'value="Sign in"' in english and 'value="Se connecter"' in french
    assert 'value="Sign in"' not in french
    for page in (english, french):
        assert '<input autocomplete="username" class="idp-input" id="email"' in page
        assert 'aria-invalid' not in page and page.count('id="csrf_token"') == 1

    again = browser.submit(browser.get(learn.authorization_request(ui_locales="en").url),
                           {"step": "signin", "email": "alex.learner@outlook.com",
                            "password": "nope-nope"}).text
    assert 'value="alex.learner@outlook.com"' in again
    assert 'aria-describedby="password-errors" aria-invalid="true"' in again
    fresh = browser.get(learn.authorization_request(ui_locales="en").url).text
    assert "alex.learner@outlook.com" not in fresh and "aria-invalid" not in fresh


def test_issuers_do_not_share_sessions_or_accounts(learn, pu):
    browser = Browser()
    run_flow(learn, "alex.learner@outlook.com", browser=browser)
    page = browser.get(pu.authorization_request().url)
    assert 'value="signin"' in page.text  # PU still asks to sign in
    refused = browser.submit(page, {"step": "signin", "email": "alex.learner@outlook.com",
                                    "password": "Passw0rd!"})
    assert 'value="signin"' in refused.text


# ---------------------------------------------------------------- code misuse


def _code_for(rp, email="priya.pending@outlook.com"):
    auth = rp.authorization_request()
    location = Browser().sign_in_and_consent(auth.url, email).headers["Location"]
    return query_of(location)["code"], auth


def test_code_replay_refused(learn):
    code, auth = _code_for(learn)
    learn.exchange(code, auth.code_verifier)
    again = learn.raw_token_request({"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": learn.redirect_uri,
                                     "code_verifier": auth.code_verifier})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_expired_code_refused(live, learn):
    code, auth = _code_for(learn)
    with live.app.app_context():
        item = db.session.scalar(db.select(AuthorizationCode).filter_by(code=code))
        item.issued_at = int(time.time()) - 61
        db.session.commit()
    response = learn.raw_token_request({"grant_type": "authorization_code", "code": code,
                                        "redirect_uri": learn.redirect_uri,
                                        "code_verifier": auth.code_verifier})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_needs_client_authentication_and_verifier(learn):
    code, auth = _code_for(learn)
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": learn.redirect_uri, "code_verifier": auth.code_verifier}
    assert learn.raw_token_request(data, auth=False).json()["error"] == "invalid_client"
    bad = requests.post(learn.metadata["token_endpoint"], data=data,
                        auth=(learn.client_id, "wrong-secret"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    wrong_verifier = dict(data, code_verifier="x" * 50)
    assert learn.raw_token_request(wrong_verifier).json()["error"] == "invalid_grant"
    no_verifier = {k: v for k, v in data.items() if k != "code_verifier"}
    assert learn.raw_token_request(no_verifier).json()["error"] == "invalid_request"


def test_code_is_bound_to_client(learn, pu):
    code, auth = _code_for(learn)
    response = pu.raw_token_request({"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": learn.redirect_uri,
                                     "code_verifier": auth.code_verifier})
    assert response.json()["error"] in ("invalid_grant", "invalid_client")


# ---------------------------------------------------------------- bad requests


def _assert_provider_error_page(response):
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not valid" in response.text


def test_redirect_uri_mismatch_shows_error_page(learn):
    response = Browser().get(learn.raw_authorization_url(
        redirect_uri="http://rp.example.com/callback/learn/extra",
        code_challenge="a" * 43, code_challenge_method="S256"))
    _assert_provider_error_page(response)


def test_missing_redirect_uri_shows_error_page(learn):
    response = Browser().get(learn.raw_authorization_url(
        redirect_uri=None, code_challenge="a" * 43, code_challenge_method="S256"))
    _assert_provider_error_page(response)


def test_unknown_client_shows_error_page(learn, pu):
    response = Browser().get(learn.raw_authorization_url(client_id="nobody"))
    _assert_provider_error_page(response)
    # a client of the other issuer is unknown here
    response = Browser().get(learn.raw_authorization_url(client_id=pu.client_id,
                                                         redirect_uri=pu.redirect_uri))
    _assert_provider_error_page(response)


@pytest.mark.parametrize("params", [
    {},  # PKCE missing
    {"code_challenge": "a" * 43},  # method missing (would default to plain)
    {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
])
def test_pkce_required_and_s256_only(learn, params):
    response = Browser().get(learn.raw_authorization_url(state="xyz", **params))
    assert response.status_code == 302
    q = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(learn.redirect_uri)
    assert q["error"] == "invalid_request" and q["state"] == "xyz"


def test_nonce_required(learn):
    response = Browser().get(learn.raw_authorization_url(
        nonce=None, state="abc", code_challenge="a" * 43, code_challenge_method="S256"))
    assert response.status_code == 302
    q = query_of(response.headers["Location"])
    assert q["error"] == "invalid_request" and "nonce" in q["error_description"]
    assert q["state"] == "abc"


def test_cancel_at_sign_in_returns_access_denied(learn):
    browser = Browser()
    auth = learn.authorization_request()
    page = browser.get(auth.url)
    response = browser.submit(page, {"step": "signin", "cancel": "Cancel"})
    assert response.status_code == 302
    q = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(learn.redirect_uri)
    assert q["error"] == "access_denied" and q["state"] == auth.state
    assert q.get("error_description")


def test_cancel_at_consent_returns_access_denied(pu):
    browser = Browser()
    auth = pu.authorization_request()
    page = browser.get(auth.url)
    consent = browser.submit(page, {"step": "signin", "email": "sam.student@outlook.com",
                                    "password": "Passw0rd!"})
    consent.url = page.url
    response = browser.submit(consent, {"step": "consent", "cancel": "Cancel"})
    q = query_of(response.headers["Location"])
    assert q["error"] == "access_denied" and q["state"] == auth.state


def test_post_without_csrf_is_refused(learn):
    browser = Browser()
    page = browser.get(learn.authorization_request().url)
    response = browser.post(page.url, {"step": "signin", "email": "alex.learner@outlook.com",
                                       "password": "Passw0rd!"})
    assert response.status_code == 400 and "Location" not in response.headers
