"""prompt, max_age and remembered consent (OIDC Core 3.1.2.1), over real HTTP against the
session's providers, with relying parties registered over the QA control API."""
from __future__ import annotations

import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import csrf_token
from tests.fixtures.qa_clients import QaClient
from tests.fixtures.qa_clients import allow
from tests.fixtures.qa_clients import redirect_params
from tests.fixtures.qa_clients import sign_in

LEARNER = "alex.learner@outlook.com"


@pytest.fixture
def client(idp, control):
    qa = QaClient(control, idp.url, "learn")
    yield qa
    qa.delete()


def id_token_claims(client: QaClient, params: dict, verifier: str) -> dict:
    token = client.exchange(params["code"], verifier)
    assert token.status_code == 200, token.text
    jwks = requests.get(client.metadata["jwks_uri"], timeout=5).json()
    return dict(jwt.decode(token.json()["id_token"], KeySet.import_key_set(jwks)).claims)


def signed_in_with_consent(client: QaClient, email: str = LEARNER) -> Browser:
    """A browser signed in at the provider that allowed ``client`` once."""
    browser = Browser()
    auth = client.authorization_request()
    params = redirect_params(allow(browser, sign_in(browser, auth.url, email), auth.url), client)
    assert "code" in params
    return browser


def test_prompt_none_without_a_session_is_login_required_at_the_client(client):
    auth = client.authorization_request(prompt="none")
    params = redirect_params(Browser().get(auth.url), client)
    assert params["error"] == "login_required" and params["state"] == auth.state
    assert params["iss"] == client.issuer_url


def test_prompt_none_signed_in_without_consent_is_consent_required_without_ui(client):
    browser = Browser()
    auth = client.authorization_request()
    consent = sign_in(browser, auth.url, LEARNER)
    assert 'value="consent"' in consent.text  # signed in, nothing allowed yet
    quiet = client.authorization_request(prompt="none")
    params = redirect_params(browser.get(quiet.url), client)
    assert params["error"] == "consent_required" and params["state"] == quiet.state


def test_remembered_consent_skips_the_page_and_prompt_none_gets_a_code(client):
    browser = signed_in_with_consent(client)
    # Consent remembered: no page at all, the code comes straight back...
    again = client.authorization_request()
    params = redirect_params(browser.get(again.url), client)
    assert params["state"] == again.state and "code" in params
    # ...also without any UI (prompt=none), and the code works.
    quiet = client.authorization_request(prompt="none")
    params = redirect_params(browser.get(quiet.url), client)
    assert id_token_claims(client, params, quiet.verifier)["nonce"] == quiet.nonce
    # A scope not allowed before asks again (consent_required without UI).
    more = client.authorization_request(scope="openid profile email offline_access",
                                        prompt="none")
    assert redirect_params(browser.get(more.url), client)["error"] == "consent_required"


@pytest.mark.parametrize("prompt", ["consent", "select_account"])
def test_prompt_consent_shows_the_page_although_consent_is_remembered(client, prompt):
    """prompt=select_account shows it too: the page offers "Use another account"."""
    browser = signed_in_with_consent(client)
    page = browser.get(client.authorization_request(prompt=prompt).url)
    assert page.status_code == 200 and 'value="consent"' in page.text
    assert 'value="switch"' in page.text


def test_revoking_a_consent_on_the_account_page_asks_again(idp, client):
    browser = signed_in_with_consent(client)
    account = browser.get(f"{idp.url}/learn/account")
    assert "QA Test App" in account.text
    action = account.text.split('action="/learn/account/consents/')[1].split('"')[0]
    revoke_url = f"{idp.url}/learn/account/consents/{action}"
    # Without the form's CSRF token: refused, and the consent stays.
    forged = browser.post(revoke_url, {"submit": "Revoke"})
    assert forged.status_code == 400
    # Another account cannot revoke it by its id.
    other = signed_in_with_consent(client, "nina.nomcid@outlook.com")
    other_page = other.get(f"{idp.url}/learn/account")
    assert other.post(revoke_url, {"csrf_token": csrf_token(other_page.text)}).status_code == 404
    assert redirect_params(browser.get(client.authorization_request(prompt="none").url),
                           client).get("code")
    done = browser.post(revoke_url, {"csrf_token": csrf_token(account.text), "submit": "Revoke"})
    assert done.status_code == 302
    assert "QA Test App" not in browser.get(f"{idp.url}/learn/account").text
    params = redirect_params(browser.get(client.authorization_request(prompt="none").url),
                             client)
    assert params["error"] == "consent_required"
    # The other account's consent is its own: still remembered.
    assert redirect_params(other.get(client.authorization_request(prompt="none").url),
                           client).get("code")


def test_always_ask_consent_client_setting_shows_the_page_every_time(idp, control):
    client = QaClient(control, idp.url, "learn", always_ask_consent=True)
    try:
        assert client.registered["always_ask_consent"] is True
        browser = signed_in_with_consent(client)
        page = browser.get(client.authorization_request().url)
        assert page.status_code == 200 and 'value="consent"' in page.text
        params = redirect_params(browser.get(client.authorization_request(prompt="none").url),
                                 client)
        assert params["error"] == "consent_required"
    finally:
        client.delete()


def test_prompt_login_cannot_be_skipped_by_posting_the_consent_form(client):
    """prompt=login asks for a new sign-in: Allow on a consent page of the session signed in
    earlier does not answer it."""
    browser = signed_in_with_consent(client)
    auth = client.authorization_request(prompt="login")
    page = browser.get(auth.url)
    assert 'value="signin"' in page.text
    earlier = browser.get(client.authorization_request(prompt="consent").url)
    posted = browser.post(auth.url, {"csrf_token": csrf_token(earlier.text), "step": "consent",
                                     "allow": "Allow"})
    assert posted.status_code == 200 and 'value="signin"' in posted.text


def test_max_age_asks_to_sign_in_again_and_auth_time_is_the_sign_in_time(client):
    browser = Browser()
    first = client.authorization_request()
    before = int(time.time())
    params = redirect_params(allow(browser, sign_in(browser, first.url, LEARNER), first.url),
                             client)
    first_auth_time = id_token_claims(client, params, first.verifier)["auth_time"]
    assert before <= first_auth_time <= int(time.time())
    time.sleep(2)
    # A recent enough sign-in: a code at once, with the first sign-in's time.
    recent = client.authorization_request(max_age="60")
    params = redirect_params(browser.get(recent.url), client)
    assert id_token_claims(client, params, recent.verifier)["auth_time"] == first_auth_time
    # Older than max_age: without UI, login_required; otherwise the sign-in page, then a code
    # whose auth_time is the new sign-in.
    quiet = client.authorization_request(max_age="1", prompt="none")
    assert redirect_params(browser.get(quiet.url), client)["error"] == "login_required"
    old = client.authorization_request(max_age="1")
    answer = sign_in(browser, old.url, LEARNER)
    params = redirect_params(answer, client)  # consent remembered: straight back
    assert id_token_claims(client, params, old.verifier)["auth_time"] > first_auth_time


@pytest.mark.parametrize("value", ["-1", "soon", "1.5", "99999999999"])
def test_invalid_max_age_is_an_invalid_request_at_the_client(client, value):
    auth = client.authorization_request(max_age=value)
    params = redirect_params(Browser().get(auth.url), client)
    assert params["error"] == "invalid_request" and "max_age" in params["error_description"]
    assert params["state"] == auth.state
