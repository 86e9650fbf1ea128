"""RP-initiated logout from My Learn profile: the provider session ends, links stay."""
from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from tests.fixtures.flows import link_account, provider_sign_in, remove_link, sign_in, start_link
from webapp.extensions import db
from webapp.models import LinkedAccount


def provider_signout(browser, provider):
    page = browser.open("/profile")
    return browser.submit(page, page.form_with(action_contains=f"/link/{provider}/provider-signout"))


def test_sign_out_of_provider_then_next_link_asks_to_sign_in(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    page = link_account(browser, "partner-university", "pat.pu@outlook.com")
    assert "is now linked" in html.unescape(page.text)

    hops_before = len(browser.hops)
    page = provider_signout(browser, "partner-university")
    assert page.url == "http://localhost/profile"
    text = html.unescape(page.text)
    assert "You are signed out of Partner University. Your linked accounts are unchanged." in text
    logout_hop = next(url for _m, url, _s in browser.hops[hops_before:]
                      if url.startswith(f"{idp.url}/partner-university/logout"))
    query = parse_qs(urlsplit(logout_hop).query)
    assert query["client_id"] == ["partner-center-pu"]
    assert query["post_logout_redirect_uri"] == ["http://localhost/profile"]
    back = next(url for _m, url, _s in browser.hops[hops_before:]
                if url.startswith("http://localhost/profile?"))
    assert parse_qs(urlsplit(back).query)["state"] == query["state"]

    # The link is untouched by the provider sign-out.
    with app.app_context():
        [link] = db.session.scalars(select(LinkedAccount)).all()
        assert link.ended_at is None
    # A new flow shows the provider's sign-in page again.
    remove_link(browser, "partner-university")
    again = start_link(browser, "partner-university")
    assert again.url.startswith(f"{idp.url}/partner-university/authorize?")
    assert 'value="signin"' in again.text


def test_new_learn_flow_after_provider_sign_out_shows_sign_in(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    page = start_link(browser, "learn")
    assert 'value="signin"' in page.text
    consent = provider_sign_in(browser, page, "alex.learner@outlook.com")
    assert 'value="consent"' in consent.text
    # Leave without deciding; a new flow skips the sign-in page (provider session alive).
    assert 'value="consent"' in start_link(browser, "learn").text

    page = provider_signout(browser, "learn")
    assert "You are signed out of Microsoft Learn." in html.unescape(page.text)
    again = start_link(browser, "learn")
    assert again.url.startswith(f"{idp.url}/learn/authorize?")
    assert 'value="signin"' in again.text


def test_sign_out_return_with_unknown_or_reused_state_changes_nothing(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    page = browser.open("/profile?state=not-a-state-of-ours")
    assert page.url == "http://localhost/profile"
    assert "does not belong to a sign-out started in this session" in html.unescape(page.text)

    provider_signout(browser, "learn")
    back = next(url for _m, url, _s in reversed(browser.hops)
                if url.startswith("http://localhost/profile?state="))
    replay = browser.open(back)
    assert "does not belong to a sign-out started in this session" in html.unescape(replay.text)


def test_provider_sign_out_needs_csrf_token(client, browser):
    sign_in(browser, "alex@contoso.com")
    page = browser.open("/link/learn/provider-signout", method="POST", data={})
    assert page.status == 400
    assert not any("/logout" in url for _m, url, _s in browser.hops)
