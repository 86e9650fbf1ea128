"""The linking flow end to end: real redirects between the webapp and the live providers."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.fixtures.flows import (link_account, provider_consent, provider_sign_in, remove_link, sign_in,
                         start_link)
from webapp.extensions import db
from webapp.models import LinkAttempt, LinkedAccount


def link_rows(app) -> list[LinkedAccount]:
    with app.app_context():
        return list(db.session.scalars(select(LinkedAccount).order_by(LinkedAccount.id)))


def count_links(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LinkedAccount))


def test_sign_in_and_out(browser):
    page = sign_in(browser, "alex@contoso.com")
    assert page.url.endswith("/profile")
    assert "My Learn profile" in page.text and "Alex Johnson" in page.text
    out = browser.submit(page, page.form_with(action_contains="/logout"))
    assert out.url.endswith("/login")
    assert browser.open("/profile").url.startswith("http://localhost/login")


def test_wrong_password_is_refused_with_one_message(browser):
    page = sign_in(browser, "alex@contoso.com", "not-the-password")
    assert page.status == 401
    assert "The email or password is not correct." in page.text
    unknown = sign_in(browser, "nobody@contoso.com", "whatever-pass")
    assert unknown.status == 401
    assert "The email or password is not correct." in unknown.text


def test_link_microsoft_learn_records_mcid(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    signin_page = start_link(browser, "learn")
    # The browser is at the provider's own sign-in page, with PKCE S256, state and nonce.
    assert signin_page.url.startswith(f"{idp.url}/learn/authorize?")
    first_hop = next(url for _m, url, _s in browser.hops if "/learn/authorize" in url)
    for param in ("code_challenge_method=S256", "code_challenge=", "state=", "nonce=",
                  "client_id=partner-center-learn", "response_type=code"):
        assert param in first_hop
    page = provider_sign_in(browser, signin_page, "alex.learner@outlook.com")
    page = provider_consent(browser, page)
    assert page.url == "http://localhost/profile"
    assert "is now linked" in page.text
    assert "987654321" in page.text and "alex.learner@outlook.com" in page.text
    [link] = link_rows(app)
    assert (link.provider, link.mcid, link.email, link.ended_at) == ("learn", "987654321",
                                                                    "alex.learner@outlook.com", None)
    assert link.issuer == f"{idp.url}/learn"
    assert link.subject


def test_link_partner_university_by_signing_up(app, browser, idp):
    sign_in(browser, "pat@contoso.com")
    page = start_link(browser, "partner-university")
    assert page.url.startswith(f"{idp.url}/partner-university/authorize?")
    signup_link = page.text.split('href="')[1:]
    signup_href = next(h.split('"')[0] for h in signup_link if "signup" in h.split('"')[0])
    signup = browser.open(signup_href.replace("&amp;", "&") if signup_href.startswith("http")
                          else idp.url + signup_href.replace("&amp;", "&"))
    form = signup.form_with(button="Create account")
    page = browser.submit(signup, form, {
        "email": "new.student@outlook.com", "display_name": "New Student",
        "password": "Sup3rSecret!", "confirm": "Sup3rSecret!",
    })
    if "/profile" not in page.url:
        page = provider_consent(browser, page)
    assert page.url == "http://localhost/profile", page.text[:1500]
    [link] = link_rows(app)
    assert link.provider == "partner-university"
    assert link.email == "new.student@outlook.com"
    assert link.mcid is None


def test_remove_access_keeps_history(app, browser):
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    page = remove_link(browser, "learn")
    assert "Access removed" in page.text
    assert "Associate Microsoft Learning Account" in page.text
    [link] = link_rows(app)
    assert link.ended_at is not None and link.end_reason == "removed by user"
    assert "Association history" in page.text


def test_cancel_at_provider_links_nothing(app, browser):
    sign_in(browser, "alex@contoso.com")
    page = start_link(browser, "learn")
    page = browser.submit(page, page.form_with(button="Cancel"), button="Cancel")
    assert page.url == "http://localhost/profile"
    assert "You cancelled the sign-in at Microsoft Learn; nothing was linked." in page.text
    assert count_links(app) == 0
    with app.app_context():
        attempt = db.session.scalars(select(LinkAttempt)).one()
        assert attempt.outcome == "cancelled"


def test_cancel_at_consent_links_nothing(app, browser):
    sign_in(browser, "alex@contoso.com")
    page = provider_sign_in(browser, start_link(browser, "learn"), "alex.learner@outlook.com")
    page = provider_consent(browser, page, allow=False)
    assert "You cancelled the sign-in at Microsoft Learn; nothing was linked." in page.text
    assert count_links(app) == 0


def _callback_url(browser) -> str:
    return next(url for _m, url, _s in browser.hops if "/callback?" in url)


def test_replayed_callback_is_refused(app, browser):
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    callback = _callback_url(browser)
    remove_link(browser, "learn")
    page = browser.open(callback)
    assert "Nothing was linked" in page.text and page.status == 200
    assert [lnk.ended_at is not None for lnk in link_rows(app)] == [True]


def test_replayed_code_with_fresh_state_is_refused_by_provider(app, client, browser, idp):
    """The same code presented twice: the provider refuses the second exchange."""
    sign_in(browser, "alex@contoso.com")
    page = provider_sign_in(browser, start_link(browser, "learn"), "alex.learner@outlook.com")
    page = browser.submit(page, page.form_with(button="Allow"), button="Allow", follow=False)
    callback = page.headers["Location"]
    code = callback.split("code=")[1].split("&")[0]
    iss = callback.split("iss=")[1].split("&")[0]  # RFC 9207: the provider names itself
    first = browser.open(callback)
    assert "is now linked" in first.text
    remove_link(browser, "learn")
    # A second flow in the same session, whose callback carries the first flow's code.
    second = start_link(browser, "learn")
    state = second.url.split("state=")[1].split("&")[0]
    page = browser.open(f"/link/learn/callback?code={code}&state={state}&iss={iss}")
    assert "refused the authorization code" in page.text
    assert len(link_rows(app)) == 1


def test_wrong_or_missing_state_is_refused(app, browser):
    sign_in(browser, "alex@contoso.com")
    start_link(browser, "learn")
    for query in ("code=abc&state=not-the-state", "code=abc"):
        page = browser.open(f"/link/learn/callback?{query}")
        assert page.status == 200
        assert "does not belong to a linking flow started in this session" in page.text
    assert count_links(app) == 0


def test_callback_from_another_users_session_is_refused(app, client, idp):
    """A flow started by one work user cannot be completed in another user's session."""
    from tests.fixtures.browser import Browser
    alex = Browser(app.test_client())
    sign_in(alex, "alex@contoso.com")
    page = provider_sign_in(alex, start_link(alex, "learn"), "alex.learner@outlook.com")
    page = alex.submit(page, page.form_with(button="Allow"), button="Allow", follow=False)
    callback = page.headers["Location"]
    gloria = Browser(app.test_client())
    sign_in(gloria, "gloria.global@contoso.com")
    result = gloria.open(callback)
    assert "does not belong to a linking flow started in this session" in result.text
    assert count_links(app) == 0


def test_id_token_for_another_client_is_refused(app, browser, idp):
    """aud must contain our client id: with another client id configured, the token fails."""
    app.config["LEARN_CLIENT_ID"] = "partner-center-learn"
    sign_in(browser, "alex@contoso.com")
    page = provider_sign_in(browser, start_link(browser, "learn"), "alex.learner@outlook.com")
    page = browser.submit(page, page.form_with(button="Allow"), button="Allow", follow=False)
    # Make the webapp believe it is a different client for the validation step only.
    client = app.extensions["learnlink_oauth"].create_client("learn")
    real_id = client.client_id

    original_fetch = client.fetch_access_token

    def fetch_then_switch(**kwargs):
        token = original_fetch(**kwargs)
        client.client_id = "some-other-client"
        return token
    client.fetch_access_token = fetch_then_switch
    try:
        result = browser.open(page.headers["Location"])
    finally:
        client.client_id = real_id
        del client.fetch_access_token
    assert "failed the aud check" in result.text
    assert count_links(app) == 0


def test_start_requires_post_with_csrf(app, browser):
    sign_in(browser, "alex@contoso.com")
    assert browser.open("/link/learn/start").status == 405
    page = browser.open("/link/learn/start", method="POST", data={})
    assert page.status == 400
    assert "The form may have expired" in page.text
    assert count_links(app) == 0
