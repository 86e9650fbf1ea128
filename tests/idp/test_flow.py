"""End-to-end tests of the mock OpenID Connect providers, acting as a
third-party relying party against a live server on a loopback port."""

from __future__ import annotations

import html
import re
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.fixtures.idp_helpers import RP_POST_LOGOUT
from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import RelyingParty
from tests.fixtures.idp_helpers import csrf_token
from tests.fixtures.idp_helpers import query_of
from tests.fixtures.idp_helpers import run_flow

from idp_mock.models import Account  # noqa: E402
from idp_mock.models import AuthorizationCode  # noqa: E402
from idp_mock.models import db  # noqa: E402

ISSUERS = ("learn", "partner-university")


@pytest.fixture(scope="module")
def pu(live):
    return RelyingParty(live.url, "partner-university")


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


# ---------------------------------------------------------------- sign-up


def test_signup_on_partner_university_then_flow_completes(pu):
    browser = Browser()
    auth = pu.authorization_request()
    page = browser.get(auth.url)
    assert "Sign up" in page.text and "Cancel" in page.text
    signup_href = html.unescape(re.search(r'href="([^"]*/signup[^"]*)"', page.text).group(1))
    signup_url = requests.compat.urljoin(page.url, signup_href)
    form = browser.get(signup_url)
    assert form.status_code == 200
    # too short password is rejected
    short = browser.post(signup_url, {"csrf_token": csrf_token(form.text),
                                      "email": "new.learner@example.com",
                                      "display_name": "New Learner",
                                      "password": "short", "confirm": "short"})
    assert short.status_code == 200 and "at least 8" in short.text
    done = browser.post(signup_url, {"csrf_token": csrf_token(short.text),
                                     "email": "new.learner@example.com",
                                     "display_name": "New Learner",
                                     "password": "LongEnough1", "confirm": "LongEnough1"})
    assert done.status_code == 302
    back = requests.compat.urljoin(signup_url, done.headers["Location"])
    assert back.startswith(pu.metadata["authorization_endpoint"] + "?")
    consent = browser.get(back)
    assert 'value="consent"' in consent.text
    response = browser.submit(consent, {"step": "consent", "allow": "Allow"})
    q = query_of(response.headers["Location"])
    assert q["state"] == auth.state
    token = pu.exchange(q["code"], auth.code_verifier)
    claims = pu.validate_id_token(token["id_token"], auth.nonce)
    assert claims["email"] == "new.learner@example.com"
    assert claims["name"] == "New Learner"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/x", "/learn/account", "/\\evil.example",
])
def test_signup_next_must_be_local_to_issuer(live, target):
    browser = Browser()
    url = f"{live.url}/partner-university/signup"
    form = browser.get(url, params={"next": target})
    email = f"n{abs(hash(target))}@example.com"
    done = browser.post(form.url, {"csrf_token": csrf_token(form.text), "email": email,
                                   "display_name": "N", "password": "LongEnough1",
                                   "confirm": "LongEnough1"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/partner-university/account")


# ---------------------------------------------------------------- logout


def test_logout_with_registered_post_logout_redirect(learn):
    browser = Browser()
    token, _, _ = run_flow(learn, "alex.learner@outlook.com", browser=browser)
    response = browser.get(learn.metadata["end_session_endpoint"], params={
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": RP_POST_LOGOUT, "state": "bye"})
    assert response.status_code == 302
    assert response.headers["Location"] == RP_POST_LOGOUT + "?state=bye"
    page = browser.get(learn.authorization_request().url)
    assert 'value="signin"' in page.text  # provider session cleared

    run_flow(learn, "alex.learner@outlook.com", browser=browser)
    response = browser.get(learn.metadata["end_session_endpoint"], params={
        "client_id": learn.client_id, "post_logout_redirect_uri": RP_POST_LOGOUT})
    assert response.status_code == 302 and response.headers["Location"] == RP_POST_LOGOUT


def test_logout_with_unregistered_redirect_shows_page(learn):
    browser = Browser()
    run_flow(learn, "alex.learner@outlook.com", browser=browser)
    response = browser.get(learn.metadata["end_session_endpoint"], params={
        "client_id": learn.client_id, "post_logout_redirect_uri": "https://evil.example/"})
    assert response.status_code == 200 and "You are signed out" in response.text
    page = browser.get(learn.authorization_request().url)
    assert 'value="signin"' in page.text


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


def test_transcript_api_needs_transcript_scope(live, learn):
    user_token, _, _ = run_flow(learn, "alex.learner@outlook.com")
    sub = _sub(live, "learn", "alex.learner@outlook.com")
    response = requests.get(f"{learn.issuer_url}/api/transcript", params={"sub": sub},
                            headers={"Authorization": f"Bearer {user_token['access_token']}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


# ---------------------------------------------------------------- account pages


def _sign_in_directly(browser, live, issuer, email, password="Passw0rd!"):
    page = browser.get(f"{live.url}/{issuer}/signin")
    response = browser.submit(page, {"email": email, "password": password})
    assert response.status_code == 302, response.text
    return browser.get(f"{live.url}/{issuer}/account")


def test_account_page_requires_sign_in(live):
    response = Browser().get(f"{live.url}/learn/account")
    assert response.status_code == 302
    assert "/learn/signin?next=" in response.headers["Location"]


def test_account_page_and_complete_transcript_item(live):
    browser = Browser()
    page = _sign_in_directly(browser, live, "partner-university", "sam.student@outlook.com")
    assert "Sam Student" in page.text and "Transcript" in page.text
    response = browser.post(f"{live.url}/partner-university/account/transcript",
                            {"csrf_token": csrf_token(page.text), "item": "AZ-104"})
    assert response.status_code == 302
    page = browser.get(f"{live.url}/partner-university/account")
    assert "AZ-104" in page.text
    assert browser.get(f"{live.url}/partner-university/account/settings").status_code == 404


def test_certification_profile_generates_mcid(live, learn):
    browser = Browser()
    _sign_in_directly(browser, live, "learn", "nina.nomcid@outlook.com")
    form = browser.get(f"{live.url}/learn/account/certification-profile")
    assert form.status_code == 200
    response = browser.submit(form, {"legal_name": "Nina Nomcid", "country": "France"},
                              action=form.url)
    assert response.status_code == 302
    with live.app.app_context():
        account = db.session.scalar(db.select(Account).filter_by(
            issuer="learn", email="nina.nomcid@outlook.com"))
        mcid = account.profile.mcid
    assert mcid and mcid.isdigit() and 8 <= len(mcid) <= 9
    assert mcid in browser.get(f"{live.url}/learn/account/certification-profile").text
    # the next sign-in carries the claim
    _, claims, _ = run_flow(learn, "nina.nomcid@outlook.com")
    assert claims["mcid"] == mcid


def test_attach_personal_msa_to_work_profile(live, learn):
    browser = Browser()
    _sign_in_directly(browser, live, "learn", "walt.work@contoso.com")
    settings = browser.get(f"{live.url}/learn/account/settings")
    assert "Add a personal Microsoft account" in settings.text
    response = browser.submit(settings, {"email": "walt.personal@outlook.com",
                                         "password": "Personal1!", "confirm": "Personal1!"},
                              action=settings.url)
    assert response.status_code == 302
    settings = browser.get(f"{live.url}/learn/account/settings")
    assert "walt.personal@outlook.com" in settings.text
    assert "Add a personal Microsoft account" not in settings.text
    _, claims, _ = run_flow(learn, "walt.personal@outlook.com", password="Personal1!")
    assert claims["account_type"] == "personal"
    assert claims["mcid"] == "123450001"
    assert claims["name"] == "Walt Work"


def test_prompt_login_forces_sign_in_again(learn):
    browser = Browser()
    run_flow(learn, "mia.mover@outlook.com", browser=browser)
    auth = learn.authorization_request(prompt="login")
    response = browser.sign_in_and_consent(auth.url, "mia.mover@outlook.com")
    q = query_of(response.headers["Location"])
    assert q["state"] == auth.state
    claims = learn.validate_id_token(learn.exchange(q["code"], auth.code_verifier)["id_token"],
                                     auth.nonce)
    assert claims["email"] == "mia.mover@outlook.com"


def test_prompt_none_without_session_returns_login_required(learn):
    auth = learn.authorization_request(prompt="none")
    response = Browser().get(auth.url)
    q = query_of(response.headers["Location"])
    assert q["error"] == "login_required" and q["state"] == auth.state
