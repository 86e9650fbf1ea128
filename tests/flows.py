"""Steps of the linking flow as a person does them, for the tests."""
from __future__ import annotations

import html
import re
from urllib.parse import urljoin

from tests.browser import Browser, Page

DEMO_PASSWORD = "Passw0rd!"


def sign_in(browser: Browser, email: str, password: str = DEMO_PASSWORD) -> Page:
    page = browser.open("/login")
    return browser.submit(page, page.form_with(button="Sign in", action_contains=""), {
        "email": email, "password": password})


def start_link(browser: Browser, provider: str) -> Page:
    """Press the profile's link button; returns the provider's sign-in page."""
    page = browser.open("/profile")
    return browser.submit(page, page.form_with(action_contains=f"/link/{provider}/start"))


def provider_sign_in(browser: Browser, page: Page, email: str, password: str = DEMO_PASSWORD) -> Page:
    form = page.form_with(button="Sign in")
    return browser.submit(page, form, {"email": email, "password": password}, button="Sign in")


def provider_consent(browser: Browser, page: Page, allow: bool = True) -> Page:
    form = page.form_with(button="Allow" if allow else "Cancel")
    return browser.submit(page, form, button="Allow" if allow else "Cancel")


def link_account(browser: Browser, provider: str, email: str, password: str = DEMO_PASSWORD) -> Page:
    """The whole flow: start, sign in at the provider, allow, back to My Learn profile."""
    page = start_link(browser, provider)
    page = provider_sign_in(browser, page, email, password)
    if "/link/" not in page.url and "/profile" not in page.url:
        page = provider_consent(browser, page)
    return page


def remove_link(browser: Browser, provider: str) -> Page:
    page = browser.open("/profile")
    return browser.submit(page, page.form_with(action_contains=f"/link/{provider}/remove"))


def sign_up_at_provider(browser: Browser, page: Page, email: str, display_name: str,
                        password: str = DEMO_PASSWORD) -> Page:
    """From the provider's sign-in page: follow "Sign up", create the account, and come back
    to the authorization request (the consent page)."""
    match = re.search(r'href="([^"]*/signup\?[^"]*)"', page.text)
    assert match, f"no sign-up link on {page.url}"
    signup = browser.open(urljoin(page.url, html.unescape(match.group(1))))
    form = signup.form_with(button="Create account")
    return browser.submit(signup, form, {"email": email, "display_name": display_name,
                                         "password": password, "confirm": password},
                          button="Create account")


def switch_language(browser: Browser, page: Page, code: str) -> Page:
    """Press a language in Partner Center's switcher (a POST form) on ``page``."""
    return browser.submit(page, page.form_with(action_contains="/language"), button=code)
