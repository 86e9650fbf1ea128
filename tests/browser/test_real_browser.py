"""End to end in a real browser: Debian's Chromium driven by Playwright.

The webapp listens on http://127.0.0.1:PORT and the providers on http://localhost:PORT2 (two host
names, so the browser keeps their cookies apart, as between Partner Center and Learn). Every flow
runs at desktop width and at 375 px; each step's screenshot goes to ``test-artifacts/``. axe-core
checks every main page of both servers for serious or critical accessibility violations.

Needs /usr/bin/chromium and node_modules/axe-core (``bash scripts/test.sh`` installs both); never
downloads a browser.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fixtures.real_browser import (ARTIFACTS, AXE_JS, click_and_wait_for_page, flash_text,
                                         provider_sign_in, remove_access, section, sign_in)

pytestmark = pytest.mark.real_browser


# ------------------------------------------------------------------------------------ flows

def test_link_partner_university_by_signing_up_then_learn_then_remove_both(page, stack):
    viewport = stack["viewport"]
    new_account = f"new.learner.{viewport}@outlook.com"
    sign_in(page, stack, "alex@contoso.com")

    page.get_by_role("button", name="Get Partner University Access").click()
    page.wait_for_url(re.compile(r"http://localhost:\d+/partner-university/authorize"))
    page.shots("partner-university-sign-in")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill(new_account)
    page.get_by_label("Display name").fill("New Learner")
    page.get_by_label("Password", exact=True).fill("Sign-up-passw0rd")
    page.get_by_label("Confirm password").fill("Sign-up-passw0rd")
    page.shots("partner-university-sign-up")
    click_and_wait_for_page(page, page.get_by_role("button", name="Create account"))
    assert page.get_by_role("heading", name="Permissions requested").is_visible()
    page.shots("partner-university-consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(stack["web_url"] + "/profile*")
    assert "is now linked" in flash_text(page)
    assert new_account in section(page, "partner-university").inner_text()
    page.shots("partner-university-linked")

    # "Use email@address to associate my Microsoft Learning account": Learn's sign-in, pre-filled.
    section(page, "learn").get_by_role(
        "button", name=f"Use {new_account} to associate my Microsoft Learning account").click()
    page.wait_for_url(re.compile(r"http://localhost:\d+/learn/authorize\?.*login_hint="))
    assert page.get_by_label("Email").input_value() == new_account
    page.shots("learn-sign-in-pre-filled")
    page.go_back()
    page.wait_for_url(stack["web_url"] + "/profile*")

    page.get_by_role("button", name="Associate Microsoft Learning Account").click()
    page.wait_for_url(re.compile(r"http://localhost:\d+/learn/authorize"))
    page.shots("learn-sign-in")
    provider_sign_in(page, "alex.learner@outlook.com")
    page.shots("learn-consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(stack["web_url"] + "/profile*")
    learn = section(page, "learn")
    assert "alex.learner@outlook.com" in learn.inner_text() and "987654321" in learn.inner_text()
    page.shots("learn-linked")

    remove_access(page, "learn")
    assert "Access removed" in flash_text(page)
    remove_access(page, "partner-university")
    assert "Access removed" in flash_text(page)
    for provider in ("learn", "partner-university"):
        assert "No account is linked." in section(page, provider).inner_text()
    page.shots("both-removed")


def test_cancel_at_the_provider_links_nothing(page, stack):
    sign_in(page, stack, "pat@contoso.com")
    page.get_by_role("button", name="Get Partner University Access").click()
    page.wait_for_url(re.compile(r"http://localhost:\d+/partner-university/authorize"))
    page.shots("partner-university-sign-in")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(stack["web_url"] + "/profile*")
    assert "You cancelled the sign-in at Partner University; nothing was linked." in flash_text(page)
    assert "No account is linked." in section(page, "partner-university").inner_text()
    page.shots("cancelled")


def test_cool_off_refusal_names_the_next_date(page, stack):
    """Carl's demo link is ten days old: removing it and associating again is refused until day 30."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import LinkedAccount, WorkUser

    with stack["webapp"].app_context():
        linked_at = db.session.scalar(
            select(LinkedAccount.linked_at).join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
            .where(WorkUser.email == "carl@contoso.com").order_by(LinkedAccount.linked_at.desc()))
    expected = (linked_at.date() + timedelta(days=30)).strftime("%B %-d, %Y")

    sign_in(page, stack, "carl@contoso.com")
    remove_access(page, "learn")
    assert "Access removed" in flash_text(page)
    page.shots("removed")
    page.get_by_role("button", name="Associate Microsoft Learning Account").click()
    page.wait_for_url(re.compile(r"http://localhost:\d+/learn/authorize"))
    provider_sign_in(page, "carl.cooloff@outlook.com")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(stack["web_url"] + "/profile*")
    message = flash_text(page)
    assert "we require a period of 30 days between associations" in message
    assert f"Your next available date for a subsequent association is {expected}." in message
    assert "No account is linked." in section(page, "learn").inner_text()
    assert expected in section(page, "learn").inner_text()  # "Next available association date"
    page.shots("cool-off-refusal")


def test_admin_downloads_the_skills_report_csv(page, stack):
    sign_in(page, stack, "pat@contoso.com")  # pat links Partner University: a row of the report
    page.get_by_role("button", name="Get Partner University Access").click()
    provider_sign_in(page, "pat.pu@outlook.com")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(stack["web_url"] + "/profile*")
    page.context.clear_cookies()

    sign_in(page, stack, "gloria.global@contoso.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_role("link", name=re.compile("Skills")).first.click()
    page.wait_for_url("**/reports/skills*")
    assert page.get_by_role("heading", name="Skills report").is_visible()
    page.shots("skills-report")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"skills-report-1234567-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) >= 2 and len(rows[0]) > 3
    assert any("pat@contoso.com" in row and "pat.pu@outlook.com" in row for row in rows[1:]), rows
    assert any("priya@contoso.com" in row and "333000444" in row for row in rows[1:]), rows
    target = ARTIFACTS / stack["viewport"] / download.suggested_filename
    download.save_as(str(target))


# ------------------------------------------------------------------------------------ accessibility

def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations of the current page (axe-core is in every page
    of the context: ``add_init_script`` below)."""
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def axe_available():
    if not AXE_JS.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm install --no-save axe-core@4` "
                    "(bash scripts/test.sh does)")


def test_main_pages_have_no_serious_accessibility_violations(page, stack, axe_available):
    web, idp = stack["web_url"], stack["idp_url"]
    checked: dict[str, list] = {}
    # Loaded by the browser into each page it opens, rather than sent over with every check (a
    # 500 KB script each time: 3.2 of the 14 s of a viewport's run).
    page.context.add_init_script(path=str(AXE_JS))

    def check(name: str) -> None:
        page.wait_for_load_state("load")
        page.shots(name)
        checked[f"{name} ({page.url})"] = axe_violations(page)

    # Partner Center, signed out.
    page.goto(web + "/login")
    check("webapp-login")
    page.goto(web + "/no-such-page")
    check("webapp-not-found")
    # Providers' public pages.
    page.goto(idp + "/")
    check("providers-index")
    for issuer in ("learn", "partner-university"):
        page.goto(f"{idp}/{issuer}/signup")
        check(f"{issuer}-sign-up")
        page.goto(f"{idp}/{issuer}/signin")
        check(f"{issuer}-sign-in")
        page.goto(f"{idp}/{issuer}/authorize?client_id=unknown")
        check(f"{issuer}-error")
    # The linking flow: provider sign-in and consent pages inside a real authorization request.
    sign_in(page, stack, "gloria.global@contoso.com")
    check("webapp-profile")
    page.get_by_role("button", name="Get Partner University Access").click()
    check("partner-university-authorize-sign-in")
    provider_sign_in(page, "sam.student@outlook.com")
    check("partner-university-consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(web + "/profile*")
    check("webapp-profile-linked")
    page.get_by_role("button", name="Associate Microsoft Learning Account").click()
    check("learn-authorize-sign-in")
    provider_sign_in(page, "nina.nomcid@outlook.com")  # no MCID yet: refused with guidance
    check("learn-consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(web + "/profile*")
    check("webapp-profile-refused")
    # Signed in at Learn now: the account pages.
    for path in ("/learn/account", "/learn/account/settings", "/learn/account/certification-profile",
                 "/learn/"):
        page.goto(idp + path)
        check("learn-" + (path.strip("/").replace("/", "-") or "home"))
    # Partner Center's other main pages (an admin sees them all).
    for path in ("/traces", "/reports/", "/reports/skills", "/reports/learn-analytics",
                 "/reports/skilling-points", "/admin/users", "/admin/users/new", "/admin/clock",
                 "/demo", "/demo/reset"):
        page.goto(web + path)
        check("webapp-" + path.strip("/").replace("/", "-"))
    page.goto(web + "/traces")
    page.locator("a[href*='/traces/']").first.click()
    check("webapp-trace-detail")
    page.goto(web + "/admin/users")
    page.locator("a[href*='/delete']").first.click()
    check("webapp-admin-delete-user")

    failing = {name: found for name, found in checked.items() if found}
    assert len(checked) >= 30
    report = "\n".join(f"{name}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
                        for name, found in failing.items() for v in found)
    assert failing == {}, "serious or critical accessibility violations:\n" + report


def test_the_provider_account_page_lists_and_revokes_a_remembered_consent(page, stack):
    """Allow at Learn's consent page, then "Apps you allowed" on Learn's account page shows
    Partner Center, whose Revoke button (a CSRF-protected form) forgets it."""
    sign_in(page, stack, "pat@contoso.com")
    page.get_by_role("button", name="Associate Microsoft Learning Account").click()
    page.wait_for_url(re.compile(r"http://localhost:\d+/learn/authorize"))
    provider_sign_in(page, "mia.mover@outlook.com")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(stack["web_url"] + "/profile*")

    page.goto(stack["idp_url"] + "/learn/account")
    consents = page.locator("section#consents")
    assert consents.get_by_role("heading", name="Apps you allowed").is_visible()
    assert "Partner Center" in consents.inner_text()
    page.shots("account-consents")
    click_and_wait_for_page(page, consents.get_by_role("button", name="Revoke"))
    assert page.url == stack["idp_url"] + "/learn/account"
    flashes = " ".join(page.locator(".idp-flash").all_inner_texts())
    assert "The app will ask for your permission next time." in flashes
    assert "No app signs you in without asking." in page.locator("section#consents").inner_text()
    page.shots("account-consent-revoked")
