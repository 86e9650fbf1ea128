"""Provider sessions and provider sign-in, over real HTTP against a provider of the test's own.

A provider session names the account by id and by a random value of the row that is never
reused, so a cookie kept past a deletion or a reset signs nobody in (SQLite hands a deleted
row's id to the next account). Sign-in is throttled per account and per address, and an
unknown email costs the same hash work as a wrong password.
"""
from __future__ import annotations

import time

import pytest
import requests

from idp_mock import create_app
from idp_mock.demo import seed_demo
from idp_mock.models import Account
from idp_mock.models import db
from idp_mock.throttle import check_sign_in
from idp_mock.throttle import SignInRefused
from tests.fixtures.idp_helpers import Browser
from tests.fixtures.idp_helpers import LiveServer
from tests.fixtures.idp_helpers import csrf_token
from tests.fixtures.idp_helpers import make_config

TOKEN = "provider-sessions-test-token"
PASSWORD = "Passw0rd!"


@pytest.fixture
def provider(tmp_path):
    app = create_app(make_config(tmp_path / "idp.sqlite", IDP_QA_MODE=True,
                                 IDP_CONTROL_TOKEN=TOKEN))
    with app.app_context():
        seed_demo()
    server = LiveServer(app).start()
    yield server
    server.stop()


def _sign_up(server, email: str) -> Browser:
    browser = Browser()
    page = browser.get(f"{server.url}/learn/signup")
    response = browser.post(f"{server.url}/learn/signup", {
        "csrf_token": csrf_token(page.text), "email": email, "display_name": "New Person",
        "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302, response.text
    return browser


def _sign_in(server, email: str, password: str = PASSWORD, browser: Browser | None = None):
    browser = browser or Browser()
    page = browser.get(f"{server.url}/learn/signin")
    response = browser.post(f"{server.url}/learn/signin", {
        "csrf_token": csrf_token(page.text), "email": email, "password": password})
    return browser, response


def _signed_in_as(server, browser: Browser) -> str | None:
    """The email the account page shows, or None when the cookie signs nobody in."""
    response = browser.get(f"{server.url}/learn/account")
    if response.status_code == 302:
        assert "/learn/signin" in response.headers["Location"]
        return None
    assert response.status_code == 200
    with server.app.app_context():
        emails = db.session.scalars(db.select(Account.email)).all()
    shown = [e for e in emails if e in response.text]
    return shown[0] if len(shown) == 1 else ",".join(shown)


def _account_id(server, email: str) -> int:
    with server.app.app_context():
        return db.session.scalar(db.select(Account.id).filter_by(issuer="learn", email=email))


def _give_id(server, email: str, account_id: int) -> None:
    """PostgreSQL never hands an id out twice: give the new row the old id by hand, as SQLite
    does by itself, so the test is the same on both."""
    with server.app.app_context():
        current = db.session.scalar(db.select(Account.id).filter_by(email=email))
        if current != account_id:
            db.session.execute(db.update(Account).where(Account.id == current)
                               .values(id=account_id))
            db.session.commit()


def _qa(server, method: str, path: str):
    response = requests.request(method, server.url + path, timeout=10,
                                headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response


# ---------------------------------------------------------------- session bound to the row


def test_cookie_kept_before_deletion_is_not_the_new_account_with_its_id(provider):
    attacker = _sign_up(provider, "mallory@example.com")
    assert _signed_in_as(provider, attacker) == "mallory@example.com"
    old_id = _account_id(provider, "mallory@example.com")
    kept = dict(attacker.http.cookies)
    _qa(provider, "DELETE", "/learn/qa/accounts/mallory@example.com")
    _sign_up(provider, "victim@example.com")
    _give_id(provider, "victim@example.com", old_id)
    assert _account_id(provider, "victim@example.com") == old_id  # the id was reused
    victim, _response = _sign_in(provider, "victim@example.com")

    holder = Browser()
    holder.http.cookies.update(kept)
    assert _signed_in_as(provider, holder) is None
    assert _signed_in_as(provider, victim) == "victim@example.com"


def test_cookie_kept_before_a_reset_signs_nobody_in(provider):
    alex, response = _sign_in(provider, "alex.learner@outlook.com")
    assert response.status_code == 302
    mallory = _sign_up(provider, "mallory@example.com")
    mallory_id = _account_id(provider, "mallory@example.com")
    kept_alex, kept_mallory = dict(alex.http.cookies), dict(mallory.http.cookies)
    _qa(provider, "POST", "/qa/reset")
    # The demo accounts are back (alex with the same subject), and a new account takes the id
    # mallory's cookie names.
    _sign_up(provider, "victim@example.com")
    _give_id(provider, "victim@example.com", mallory_id)
    assert _account_id(provider, "victim@example.com") == mallory_id
    victim, _response = _sign_in(provider, "victim@example.com")
    for kept in (kept_alex, kept_mallory):
        holder = Browser()
        holder.http.cookies.update(kept)
        assert _signed_in_as(provider, holder) is None
    assert _signed_in_as(provider, victim) == "victim@example.com"


# ---------------------------------------------------------------- throttling


@pytest.fixture
def limits(provider):
    provider.app.config.update(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_FAILURES_PER_ADDRESS=6)
    return provider


def test_provider_account_is_throttled_after_its_failures(limits):
    for _ in range(3):
        _browser, response = _sign_in(limits, "alex.learner@outlook.com", "wrong-password")
        assert response.status_code == 200
        assert "That email and password combination is not recognised." in response.text
    _browser, response = _sign_in(limits, "alex.learner@outlook.com")  # the right password
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again at" in response.text
    # Another account from the same address still signs in.
    _browser, other = _sign_in(limits, "nina.nomcid@outlook.com")
    assert other.status_code == 302


def test_provider_unknown_email_is_throttled_the_same_way(limits):
    for _ in range(3):
        _sign_in(limits, "nobody@example.com", "wrong-password")
    _browser, response = _sign_in(limits, "nobody@example.com", "wrong-password")
    assert response.status_code == 429


def test_provider_address_is_throttled_across_accounts(limits):
    for n in range(6):
        _sign_in(limits, f"guess{n}@example.com", "wrong-password")
    _browser, response = _sign_in(limits, "alex.learner@outlook.com")
    assert response.status_code == 429


def test_provider_throttle_applies_on_the_authorize_sign_in_too(limits):
    from urllib.parse import urlencode
    from tests.fixtures.idp_helpers import CLIENT_IDS, RP_REDIRECTS

    url = f"{limits.url}/learn/authorize?" + urlencode({
        "response_type": "code", "client_id": CLIENT_IDS["learn"], "scope": "openid",
        "redirect_uri": RP_REDIRECTS["learn"], "state": "s", "nonce": "n",
        "code_challenge": "a" * 43, "code_challenge_method": "S256"})
    browser = Browser()
    statuses = []
    for password in ["bad1", "bad2", "bad3", PASSWORD]:
        page = browser.get(url)
        statuses.append(browser.submit(page, {"step": "signin", "email": "alex.learner@outlook.com",
                                              "password": password}).status_code)
    assert statuses == [200, 200, 200, 429]


def test_provider_success_clears_the_account_count(limits):
    for _ in range(2):
        _sign_in(limits, "alex.learner@outlook.com", "wrong-password")
    _browser, ok = _sign_in(limits, "alex.learner@outlook.com")
    assert ok.status_code == 302
    for _ in range(2):
        _sign_in(limits, "alex.learner@outlook.com", "wrong-password")
    _browser, again = _sign_in(limits, "alex.learner@outlook.com")
    assert again.status_code == 302


def test_provider_unknown_email_and_wrong_password_cost_the_same(provider):
    """The dummy hash compare: the fastest of interleaved runs within 40 % of each other (why
    the fastest: tests/system/test_web_hardening.py)."""
    app = provider.app
    app.config.update(IDP_PASSWORD_HASH="pbkdf2:sha256:40000",
                      LOGIN_MAX_FAILURES_PER_ACCOUNT=10**6, LOGIN_MAX_FAILURES_PER_ADDRESS=10**6)
    with app.test_request_context():
        from idp_mock.services import create_account
        create_account("learn", "timing@example.com", "Right-Passw0rd", "Timing")

        def attempt(email):
            started = time.perf_counter()
            with pytest.raises(SignInRefused):
                check_sign_in("learn", email, "Wrong-Passw0rd", None)
            return time.perf_counter() - started

        # One email each, both failed once first: both sides then bump an existing failure
        # count, and only the password check can tell them apart (a new email's first failure
        # creates its count, whether the account exists or not).
        attempt("nobody@example.com")
        attempt("timing@example.com")
        unknown, wrong = [], []
        for _ in range(9):
            unknown.append(attempt("nobody@example.com"))
            wrong.append(attempt("timing@example.com"))
    fast, slow = sorted([min(unknown), min(wrong)])
    assert fast / slow > 0.6, (min(unknown), min(wrong))
