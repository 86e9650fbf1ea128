"""The providers' own pages: sign-up, logout, the account page, certification profiles and
prompt=login."""
from __future__ import annotations

import html
import re

import pytest
import requests

from tests.fixtures.idp_helpers import RP_POST_LOGOUT
from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import RelyingParty
from tests.fixtures.idp_helpers import csrf_token
from tests.fixtures.idp_helpers import query_of
from tests.fixtures.idp_helpers import run_flow

from idp_mock.models import Account  # noqa: E402
from idp_mock.models import db  # noqa: E402


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


@pytest.mark.parametrize("issuer, email", [("learn", "alex.learner@outlook.com"),
                                           ("partner-university", "pat.pu@outlook.com")])
def test_login_hint_prefills_the_sign_in_page(live, issuer, email):
    """OIDC Core 3.1.2.1: the client's login_hint pre-fills the email (a malformed one is ignored)."""
    rp = RelyingParty(live.url, issuer)
    browser = Browser()

    def email_value(page) -> str:
        match = re.search(r'<input[^>]*name="email"[^>]*>', page.text)
        value = re.search(r'value="([^"]*)"', match.group(0))
        return html.unescape(value.group(1)) if value else ""

    request = rp.authorization_request(login_hint=email.upper())
    page = browser.get(request.url)
    assert page.status_code == 200 and email_value(page) == email
    for bad in ("not-an-email", "a b@example.com", "x" * 250 + "@example.com", "<b>@x.com"):
        page = browser.get(rp.authorization_request(login_hint=bad).url)
        assert page.status_code == 200 and email_value(page) == "", bad
    assert email_value(browser.get(rp.authorization_request().url)) == ""
    # The pre-filled sign-in works as any other: password, consent, code.
    consent = browser.sign_in_and_consent(request.url, email)
    assert consent.status_code == 302 and "code=" in consent.headers["Location"]
