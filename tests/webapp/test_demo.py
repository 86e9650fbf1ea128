"""The trainer's demo: the guide, the one-step reset (webapp and providers), the clock banner."""
from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from flask_babel import format_date
from sqlalchemy import select

from common.demo_accounts import DEMO_ACCOUNTS
from tests.fixtures.browser import Browser
from tests.fixtures.demo_servers import CONTROL_TOKEN
from tests.fixtures.servers import free_port
from tests.fixtures.snapshots import provider_state, webapp_state
from tests.fixtures.flows import link_account, provider_consent, sign_in, start_link
from webapp import clock, simulated_clock, users
from webapp.reports import credit
from webapp.demo.seed import DEMO_ORGANIZATIONS, DEMO_PASSWORD, DEMO_WORK_USERS, seed_demo
from webapp.demo import stories as demo_stories
from webapp.extensions import db
from webapp.linking import rules
from webapp.models import AppSetting, LinkAttempt, LinkedAccount, Organization, WorkUser


# --------------------------------------------------------------------------- the guide

def test_demo_guide_lists_stories_with_real_demo_accounts(app, client):
    page = client.get("/demo")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for title in ("A new employee links Microsoft Learn", "moves from Contoso to Fabrikam",
                  "30-day cool-off", "pending, then credited", "leaves the Skills report"):
        assert title in text
    for email in ("alex@contoso.com", "mia@contoso.com", "mia@fabrikam.com", "carl@contoso.com",
                  "priya@contoso.com", "alex.learner@outlook.com", "mia.mover@outlook.com",
                  "carl.cooloff@outlook.com", "priya.pending@outlook.com"):
        assert f'data-account="{email}"' in text
    # The account tables are the demo data itself.
    for _pid, email, *_rest in DEMO_WORK_USERS:
        assert f"<code>{email}</code>" in text
    for entry in DEMO_ACCOUNTS:
        assert f"<code>{entry['email']}</code>" in text
    assert DEMO_PASSWORD in text
    # Provider pages are linked at the configured public URL of the providers.
    idp_base = app.config["IDP_PUBLIC_URL"].rstrip("/")
    assert f'href="{idp_base}/learn/account"' in text and f'href="{idp_base}/partner-university/"' in text
    assert 'href="/demo/reset"' not in text  # only a signed-in Global admin gets the button


def test_stories_only_name_accounts_that_exist(app):
    with app.test_request_context():
        for story in demo_stories.stories():
            for user in story.work_users:
                assert any(user["email"] == row[1] for row in DEMO_WORK_USERS)
            for account in story.provider_accounts:
                assert any(account["email"] == e["email"] for e in DEMO_ACCOUNTS)
            assert story.steps
    with pytest.raises(KeyError):
        demo_stories.work_user("nobody@contoso.com")
    with pytest.raises(KeyError):
        demo_stories.provider_account("nobody@outlook.com")


def test_stories_link_the_pages_and_name_the_days_they_use(app, client):
    with app.app_context():
        seed_demo()  # the demo links too: Carl's cool-off date comes from his seeded association
        carl = db.session.scalar(select(WorkUser).where(WorkUser.email == "carl@contoso.com"))
        carl_link = db.session.scalar(select(LinkedAccount).where(LinkedAccount.work_user_id == carl.id))
        today = clock.today()
        days = {
            "carl_opens": carl_link.linked_at.date() + rules.COOL_OFF,
            "priya_credit": today + timedelta(days=10),
            # Pat is deleted once his assessments are credited, ten days after his link.
            "pat_gone": credit.skills_report_removal_date(today + timedelta(days=10)) + timedelta(days=1),
        }
    text = client.get("/demo").get_data(as_text=True)
    for endpoint_path in ("/admin/clock", "/admin/users", "/reports/", "/reports/skills", "/login", "/traces"):
        assert f'href="{endpoint_path}"' in text, endpoint_path
    with app.test_request_context():
        for name, day in days.items():
            assert f"move the clock to {format_date(day, format='long')}" in text, name
            assert f"flask --app webapp clock set {day.isoformat()}" in text, name


def test_cool_off_story_happens_as_the_guide_says(app, browser):
    """Carl's story, step by step: refused with the date the guide names, accepted on that date."""
    with app.app_context():
        seed_demo()
    guide = browser.open("/demo").text
    story = guide.split('id="cool-off"')[1].split("</section>")[0]
    named_iso = story.split("flask --app webapp clock set ")[1][:10]
    sign_in(browser, "carl@contoso.com")
    page = browser.open("/profile")
    page = browser.submit(page, page.form_with(action_contains="/link/learn/remove"))
    page = link_account(browser, "learn", "carl.cooloff@outlook.com")
    assert "we require a period of 30 days between associations" in page.text
    with app.app_context():
        named = date.fromisoformat(named_iso)
        with app.test_request_context():
            assert f"Your next available date for a subsequent association is " \
                   f"{format_date(named, format='long')}." in page.text
        simulated_clock.set_clock(named)
    page = provider_consent(browser, start_link(browser, "learn"))  # still signed in at Learn
    assert "is now linked" in page.text


def test_demo_guide_is_in_the_nav_only_in_demo_mode(app, browser):
    sign_in(browser, "alex@contoso.com")
    assert 'href="/demo">Demo guide</a>' in browser.open("/profile").text
    app.config["DEMO_MODE"] = False
    assert 'href="/demo"' not in browser.open("/profile").text
    assert browser.open("/demo").status == 404
    assert browser.open("/demo/reset").status == 404


# --------------------------------------------------------------------------- the clock banner

def test_banner_shows_the_simulated_date_after_the_clock_moves(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    assert "Simulated date" not in browser.open("/profile").text
    with app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=10))
        shown = (clock.real_now() + timedelta(days=10)).date()
    page = browser.open("/profile")
    assert 'class="clock-banner"' in page.text and "Simulated date" in page.text
    assert f"Simulated date: {shown.strftime('%b')} {shown.day}, {shown.year}" in page.text
    # The providers keep real time: their pages have no banner and their tokens pass our checks.
    provider_page = browser.open(f"{idp.url}/learn/")
    assert provider_page.status == 200 and "Simulated date" not in provider_page.text
    page = link_account(browser, "learn", "alex.learner@outlook.com")
    assert "is now linked" in page.text and "Simulated date" in page.text
    with app.app_context():
        link = db.session.scalars(select(LinkedAccount)).one()
        assert link.linked_at.date() == shown


# --------------------------------------------------------------------------- reset

def _sign_up_at_partner_university(browser: Browser, control_idp, email: str) -> None:
    page = browser.open(f"{control_idp.url}/partner-university/signup")
    created = browser.submit(page, page.form_with(button="Create account"), {
        "email": email, "display_name": "Walk In", "password": "Sup3rSecret!", "confirm": "Sup3rSecret!"})
    assert created.status == 200 and "/signup" not in created.url


def test_reset_button_returns_webapp_and_providers_to_a_fresh_seed(demo_app, control_idp):
    fresh_webapp, fresh_providers = webapp_state(demo_app), provider_state(control_idp.app)
    assert fresh_providers["codes"] == fresh_providers["tokens"] == 0

    # Change everything a demonstration changes.
    alex = Browser(demo_app.test_client())
    sign_in(alex, "alex@contoso.com")
    assert "is now linked" in link_account(alex, "learn", "alex.learner@outlook.com").text
    _sign_up_at_partner_university(alex, control_idp, "walk.in@outlook.com")
    with demo_app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=45))
        contoso = db.session.scalar(select(Organization).where(Organization.partner_id == "1234567"))
        users.create_work_user(contoso, "temp@contoso.com", "Temp Worker", "long-password")
    changed = provider_state(control_idp.app)
    assert changed["tokens"] >= 1 and any(a[1] == "walk.in@outlook.com" for a in changed["accounts"])
    assert webapp_state(demo_app) != fresh_webapp

    gloria = Browser(demo_app.test_client())
    sign_in(gloria, "gloria.global@contoso.com")
    guide = gloria.open("/demo")
    assert 'href="/demo/reset"' in guide.text and "Simulated date" in guide.text
    confirm = gloria.open("/demo/reset")
    done = gloria.submit(confirm, confirm.form_with(action_contains="/demo/reset"), {"confirm": "y"})
    # The operator's row was re-created by the seed: their session ends, with a notice.
    assert done.url == "http://localhost/login", done.text[:500]
    assert "The demo was reset to its seeded state" in done.text
    assert "The identity providers are back to their demo accounts." in done.text
    assert "Simulated date" not in done.text  # the clock is real time again
    assert gloria.open("/profile").url.startswith("http://localhost/login")

    assert webapp_state(demo_app) == fresh_webapp
    assert provider_state(control_idp.app) == fresh_providers
    with demo_app.app_context():
        assert db.session.get(AppSetting, clock.CLOCK_OFFSET_KEY) is None
        assert clock.clock_offset() == timedelta(0)
    # The demo runs again from the start: alex links as on day one.
    alex = Browser(demo_app.test_client())
    sign_in(alex, "alex@contoso.com")
    assert "is now linked" in link_account(alex, "learn", "alex.learner@outlook.com").text


def test_moving_the_clock_tells_the_providers_they_date_completions_by_it(demo_app, control_idp):
    """One clock: the operator's moves on the Clock page reach the providers over HTTP."""
    from tests.fixtures.qa_control import ControlAPI

    providers = ControlAPI(control_idp.url, CONTROL_TOKEN)
    gloria = Browser(demo_app.test_client())
    sign_in(gloria, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/advance"), {"days": "45"})
    assert "The simulated date is now" in page.text and "were not told" not in page.text
    with demo_app.app_context():
        simulated = clock.today()
        offset = int(clock.clock_offset().total_seconds())
    assert providers.clock() == {"offset_seconds": offset, "today": simulated.isoformat()}
    item = providers.add_transcript_item("learn", "priya.pending@outlook.com", catalog="AZ-104")
    assert item["completed_at"] == simulated.isoformat()
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/reset"))
    assert "The clock is back to real time." in page.text
    assert providers.clock()["offset_seconds"] == 0
    # Unreachable providers: Partner Center's clock moves, and the page says the providers did not.
    demo_app.config["IDP_CONTROL_URL"] = f"http://127.0.0.1:{free_port()}"
    page = gloria.open("/admin/clock")
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/advance"), {"days": "3"})
    assert "The identity providers were not told the new date (ConnectionError)" in html.unescape(page.text)
    assert providers.clock()["offset_seconds"] == 0


def test_the_clock_commands_and_the_webapp_reset_tell_the_providers(demo_app, control_idp):
    from tests.fixtures.qa_control import ControlAPI

    providers = ControlAPI(control_idp.url, CONTROL_TOKEN)
    runner = demo_app.test_cli_runner()
    result = runner.invoke(args=["clock", "advance", "20"])
    assert result.exit_code == 0 and "Providers:     date completions by this clock" in result.output
    assert abs(providers.clock()["offset_seconds"] - 20 * 86400) <= 1  # to the second
    result = runner.invoke(args=["reset-demo", "--yes"])  # the webapp only: its clock is real time
    assert result.exit_code == 0 and "were not told" not in result.output, result.output
    assert providers.clock()["offset_seconds"] == 0


def test_a_session_of_a_user_the_reset_deleted_never_signs_in_as_a_newcomer(app):
    """After a reset ids are given out again: the old session must not fit the new user."""
    with app.app_context():
        contoso = db.session.scalar(select(Organization).where(Organization.partner_id == "1234567"))
        temp_id = users.create_work_user(contoso, "temp@contoso.com", "Temp Worker", "long-password").id
    temp = Browser(app.test_client())
    sign_in(temp, "temp@contoso.com", "long-password")
    assert "Temp Worker" in temp.open("/profile").text

    gloria = Browser(app.test_client())
    sign_in(gloria, "gloria.global@contoso.com")
    confirm = gloria.open("/demo/reset")
    done = gloria.submit(confirm, confirm.form_with(action_contains="/demo/reset"), {"confirm": "y"})
    assert "The demo was reset to its seeded state" in done.text and "Gloria Global" not in done.text
    with app.app_context():
        contoso = db.session.scalar(select(Organization).where(Organization.partner_id == "1234567"))
        newcomer = users.create_work_user(contoso, "new.hire@contoso.com", "New Hire", "long-password")
        assert newcomer.id == temp_id  # the same id, given out again
    page = temp.open("/profile")
    assert page.url.startswith("http://localhost/login") and "New Hire" not in page.text
    assert gloria.open("/profile").url.startswith("http://localhost/login")  # the operator's too


def test_reset_needs_the_operator_csrf_and_the_confirmation(demo_app):
    for email in ("alex@contoso.com", "aaron.account@contoso.com", "frank.global@fabrikam.com"):
        user = Browser(demo_app.test_client())
        sign_in(user, email)
        assert user.open("/demo/reset").status == 403
        token = user.open("/profile").form_with(action_contains="/logout").fields["csrf_token"]
        assert user.open("/demo/reset", method="POST", data={"confirm": "y", "csrf_token": token}).status == 403
    assert Browser(demo_app.test_client()).open("/demo/reset").url.startswith("http://localhost/login")

    gloria = Browser(demo_app.test_client())
    sign_in(gloria, "gloria.global@contoso.com")
    with demo_app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=3))
    before = webapp_state(demo_app)
    assert gloria.open("/demo/reset", method="POST", data={"confirm": "y"}).status == 400  # no CSRF token
    confirm = gloria.open("/demo/reset")
    unticked = gloria.submit(confirm, confirm.form_with(action_contains="/demo/reset"))
    assert unticked.status == 400 and "Tick the box to confirm the reset." in unticked.text
    assert webapp_state(demo_app) == before


def test_reset_without_control_token_resets_the_webapp_and_says_so(app, browser):
    sign_in(browser, "gloria.global@contoso.com")
    with app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=3))
    confirm = browser.open("/demo/reset")
    done = browser.submit(confirm, confirm.form_with(action_contains="/demo/reset"), {"confirm": "y"})
    assert "The demo was reset to its seeded state" in done.text
    assert "The identity providers were not reset (no control token configured)" in done.text
    assert "flask --app idp_mock reset-demo" in done.text
    assert "Simulated date" not in done.text


def test_reset_demo_command_empties_every_table_and_seeds_again(app, browser):
    with app.app_context():
        seed_demo()  # the full demo, links included (the app fixture seeds users only)
    fresh = webapp_state(app)
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    with app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=12))
        assert db.session.scalar(select(db.func.count(LinkAttempt.id))) == 1
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["reset-demo"], input="n\n")
    assert refused.exit_code != 0 and webapp_state(app) != fresh
    result = runner.invoke(args=["reset-demo", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"{len(DEMO_ORGANIZATIONS)} organizations and {len(DEMO_WORK_USERS)} work users seeded" \
        in result.output
    assert webapp_state(app) == fresh
    with app.app_context():
        assert clock.clock_offset() == timedelta(0)
        assert db.session.scalar(select(db.func.count(WorkUser.id))) == len(DEMO_WORK_USERS)
    # --providers without a control token fails loudly, after resetting the webapp.
    result = runner.invoke(args=["reset-demo", "--yes", "--providers"])
    assert result.exit_code != 0 and "flask --app idp_mock reset-demo" in result.output
