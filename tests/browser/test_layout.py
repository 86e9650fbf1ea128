"""What the pages look like in a real browser: the top bar on one line, wide tables on a phone,
the remove-access confirmation, and screenshots of the main pages in every language.

Uses the servers and Chromium of tests/browser/conftest.py (one stack per viewport, 1280 and 375 px).
Screenshots: test-artifacts/<viewport>/languages/<language>-<page>.png, for review.
"""
from __future__ import annotations

import re

import pytest

from tests.fixtures.real_browser import ARTIFACTS, click_and_wait_for_page, flash_text, section, sign_in

pytestmark = pytest.mark.real_browser

LANGUAGES = ("en", "fr", "zh_Hant_TW")


def choose_language(page, stack, code: str) -> None:
    page.goto(stack["web_url"] + f"/profile?lang={code}")


def test_remove_access_asks_first_and_says_what_it_costs(page, stack):
    sign_in(page, stack, "carl@contoso.com")  # a demo Learn link of ten days ago
    learn = section(page, "learn")
    confirm = learn.get_by_role("button", name="Yes, remove access")
    assert not confirm.is_visible()
    learn.locator("summary", has_text="Remove access").click()
    panel = learn.locator("[data-field=remove-confirmation]")
    text = panel.inner_text()
    assert "Remove access for carl.cooloff@outlook.com?" in text
    assert "three associations a year, with 30 days between associations" in text
    assert re.search(r"The next possible date for carl\.cooloff@outlook\.com is \w+ \d+, \d{4}\.", text)
    page.shots("remove-confirmation")
    click_and_wait_for_page(page, confirm)
    assert "Access removed" in flash_text(page)
    assert "No account is linked." in section(page, "learn").inner_text()


# The top bar's two rows: the account (name, Sign out, languages), then the pages.
ACCOUNT_ROW = "header.topbar .brand, header.topbar .who, header.topbar .account-bar form button, header.topbar .lang-switch button"
PAGES_ROW = "header.topbar nav.topnav > a"
BOXES = """els => els.map(e => {
    const r = e.getBoundingClientRect();
    return {text: e.innerText.trim(), middle: (r.top + r.bottom) / 2, bottom: r.bottom, top: r.top};
})"""


@pytest.mark.parametrize("language", LANGUAGES)
def test_top_bar_rows_are_aligned_at_desktop_width(page, stack, language):
    if stack["viewport"] != "desktop":
        pytest.skip("at 375 px the top bar wraps by design")
    sign_in(page, stack, "gloria.global@contoso.com")  # the longest bar: admin and operator
    for path in ("/profile", "/reports/skilling-points", "/admin/users"):
        page.goto(stack["web_url"] + path + f"?lang={language}")
        account = page.eval_on_selector_all(ACCOUNT_ROW, BOXES)
        pages = page.eval_on_selector_all(PAGES_ROW, BOXES)
        assert len(account) == 6 and len(pages) == 7, (account, pages)
        for row in (account, pages):
            middles = [b["middle"] for b in row]
            assert max(middles) - min(middles) <= 3, f"{path} {language}: a row is not aligned: {row}"
        assert max(b["bottom"] for b in account) <= min(b["top"] for b in pages), (account, pages)
    page.shots(f"top-bar-{language}")


@pytest.mark.parametrize("path", ["/admin/users", "/reports/learn-analytics", "/reports/skilling-points"])
def test_wide_tables_say_they_scroll_on_a_phone(page, stack, path):
    sign_in(page, stack, "gloria.global@contoso.com")
    page.goto(stack["web_url"] + path)
    wrap = page.locator(".table-wrap").first
    sizes = wrap.evaluate("""e => ({scroll: e.scrollWidth, client: e.clientWidth,
                                      background: getComputedStyle(e).backgroundImage})""")
    hint = page.locator(".scroll-hint")
    page.shots("table" + path.replace("/", "-"))
    if stack["viewport"] == "mobile":
        assert sizes["scroll"] > sizes["client"], sizes  # it does scroll at 375 px ...
        assert hint.is_visible() and "scrolls sideways" in hint.inner_text()  # ... and says so
        assert "radial-gradient" in sizes["background"]  # the edge shadow
        # Scrolled to the end, the last column is in view.
        wrap.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
        last = page.locator(".table-wrap table thead th").last.bounding_box()
        box = wrap.bounding_box()
        assert last["x"] + last["width"] <= box["x"] + box["width"] + 1
    else:
        assert not hint.is_visible()


def test_main_pages_in_every_language(page, stack):
    """Screenshots for review: profile, consent, admin users and reports, in each language."""
    folder = ARTIFACTS / stack["viewport"] / "languages"
    folder.mkdir(parents=True, exist_ok=True)
    web = stack["web_url"]
    sign_in(page, stack, "gloria.global@contoso.com")
    signed_in_at_provider = False
    for code in LANGUAGES:
        def shot(name: str) -> None:
            page.wait_for_load_state("load")
            page.screenshot(path=str(folder / f"{code}-{name}.png"), full_page=True)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{code} {name}: {page.url} is {overflow}px wider than the window"

        choose_language(page, stack, code)
        assert page.locator("html").get_attribute("lang") == code.replace("_", "-")
        shot("profile")
        for path, name in (("/admin/users", "admin-users"), ("/reports/", "reports"),
                           ("/reports/skills", "reports-skills"),
                           ("/reports/learn-analytics", "reports-learn-analytics"),
                           ("/reports/skilling-points", "reports-skilling-points")):
            page.goto(web + path)
            shot(name)
        # The provider's consent page, in the language Partner Center asked for; then Cancel.
        page.goto(web + "/profile")
        section(page, "partner-university").locator("form[action*='/start'] button").click()
        page.wait_for_url(re.compile(r"http://localhost:\d+/partner-university/"))
        if not signed_in_at_provider:
            page.locator("input[name=email]").fill("sam.student@outlook.com")
            page.locator("input[name=password]").fill("Passw0rd!")
            page.locator("#submit").click()
            signed_in_at_provider = True
        assert page.locator("html").get_attribute("lang") == code.replace("_", "-")
        shot("consent")
        page.locator("input[name=cancel]").click()
        page.wait_for_url(web + "/profile*")
    assert len(list(folder.glob("*.png"))) == 7 * len(LANGUAGES)
