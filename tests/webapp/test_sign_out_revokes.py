"""Sign-out ends the session on the server: a copy of the cookie taken before stops working."""
from __future__ import annotations

from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import sign_in
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import WorkUser

COOKIE = "pc_session"


def _copy_of_session(app, browser: Browser):
    """A second client holding the same session cookie (what an attacker copies)."""
    value = browser.client.get_cookie(COOKIE).value
    thief = app.test_client()
    thief.set_cookie(COOKIE, value, domain="localhost")
    return thief


def _signed_in(client) -> bool:
    response = client.get("/profile")
    return response.status_code == 200


def _sign_out(browser: Browser):
    page = browser.open("/profile")
    return browser.submit(page, page.form_with(action_contains="/logout"))


def test_a_copied_cookie_no_longer_works_after_sign_out(app, browser):
    sign_in(browser, "alex@contoso.com")
    thief = _copy_of_session(app, browser)
    assert _signed_in(thief)  # the copy works while the session lives
    page = _sign_out(browser)
    assert "You are signed out." in page.text
    response = thief.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Nor can the copy start a link flow.
    start = thief.post("/link/learn/start")
    assert start.status_code in (302, 400) and "/login" in start.headers.get("Location", "/login")
    # Signing in again works, with a new session.
    sign_in(browser, "alex@contoso.com")
    assert _signed_in(browser.client)
    assert not _signed_in(thief)


def test_end_sessions_revokes_every_session_of_that_user_only(app):
    alex, alex_elsewhere, pat = (Browser(app.test_client()) for _ in range(3))
    sign_in(alex, "alex@contoso.com")
    sign_in(alex_elsewhere, "alex@contoso.com")
    sign_in(pat, "pat@contoso.com")
    with app.app_context():
        user = db.session.scalars(select(WorkUser).where(WorkUser.email == "alex@contoso.com")).one()
        before = user.session_version
        auth_service.end_sessions(user)
        db.session.commit()
        assert user.session_version == before + 1
    assert not _signed_in(alex.client) and not _signed_in(alex_elsewhere.client)
    assert _signed_in(pat.client)


def test_a_copied_cookie_of_a_deleted_user_no_longer_works(app, browser):
    sign_in(browser, "pat@contoso.com")
    thief = _copy_of_session(app, browser)
    admin = Browser(app.test_client())
    sign_in(admin, "gloria.global@contoso.com")
    with app.app_context():
        pat_id = db.session.scalar(select(WorkUser.id).where(WorkUser.email == "pat@contoso.com"))
    page = admin.open(f"/admin/users/{pat_id}/delete")
    admin.submit(page, page.form_with(button="Delete work user"))
    with app.app_context():
        assert db.session.get(WorkUser, pat_id).deleted_at is not None
    assert not _signed_in(thief) and not _signed_in(browser.client)
