"""The simulated clock in the hands of admins and operators: the clock page, its validation, who
may move it, the CLI, and the date the pages show."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.fixtures.admin_pages import as_user, text
from tests.fixtures.clock import day, long_date, move_app_to
from tests.fixtures.flows import link_account, remove_link
from webapp import clock, users
from webapp.extensions import db
from webapp.models import WorkUser


# --------------------------------------------------------------------------- clock page

def test_global_admin_moves_the_clock_and_the_rules_follow(app):
    alex = as_user(app, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    remove_link(alex, "learn")
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    assert page.status == 200 and 'href="/admin/clock"' in page.text
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/advance"), {"days": "30"})
    assert "The simulated date is now" in page.text and "Simulated date:" in page.text  # banner
    alex.http.cookies.clear()
    assert "is now linked" in text(link_account(alex, "learn", "alex.learner@outlook.com"))
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/reset"))
    assert "The clock is back to real time." in page.text and "Simulated date:" not in page.text


def test_clock_page_set_date_and_bad_input(app):
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    target = day(100)
    done = gloria.submit(page, page.form_with(action_contains="/admin/clock/set"), {"date": target.isoformat()})
    assert f"The simulated date is now {long_date(target)}." in text(done)
    for action, values, message in [
        ("/admin/clock/set", {"date": "2001-01-01"}, "The simulated date must be within 3650 days of today"),
        ("/admin/clock/set", {"date": "not-a-date"}, "Not a valid date value."),
        ("/admin/clock/advance", {"days": "0"}, "Enter a number of days between 1 and 3650."),
        ("/admin/clock/advance", {"days": "abc"}, "Not a valid integer value."),
    ]:
        bad = gloria.submit(page, page.form_with(action_contains=action), values)
        assert bad.status == 422 and message in text(bad), (action, values)
    with app.app_context():
        assert clock.today() == target


def test_account_admin_cannot_move_the_clock_and_demo_mode_off_hides_it(app):
    aaron = as_user(app, "aaron.account@contoso.com")
    assert aaron.open("/admin/clock").status == 403
    assert 'href="/admin/clock"' not in aaron.open("/profile").text
    app.config["DEMO_MODE"] = False
    gloria = as_user(app, "gloria.global@contoso.com")
    assert gloria.open("/admin/clock").status == 404
    assert 'href="/admin/clock"' not in gloria.open("/profile").text


# --------------------------------------------------------------------------- clock CLI

def test_clock_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["clock", "set", day(40).isoformat()])
    assert result.exit_code == 0 and f"Simulated now: {day(40):%Y-%m-%d}" in result.output
    result = runner.invoke(args=["clock", "advance", "5"])
    assert f"Simulated now: {day(45):%Y-%m-%d}" in result.output
    result = runner.invoke(args=["clock", "show"])
    assert f"Simulated now: {day(45):%Y-%m-%d}" in result.output
    assert runner.invoke(args=["clock", "advance", "0"]).exit_code != 0
    result = runner.invoke(args=["clock", "set", "2001-01-01"])
    assert result.exit_code != 0 and "must be within 3650 days" in result.output
    with app.app_context():
        assert clock.today() == day(45)
    result = runner.invoke(args=["clock", "reset"])
    assert result.exit_code == 0 and "Offset:        0 days" in result.output


def test_clock_page_shows_the_simulated_date(app):
    move_app_to(app, 7)
    page = as_user(app, "gloria.global@contoso.com").open("/admin/clock")
    shown = f"{day(7):%b} {day(7).day}, {day(7).year}"  # Babel's English "medium" date
    assert re.search(r'data-field="simulated_now">' + re.escape(shown), page.text)
    assert "Simulated date: " + shown in page.text  # the banner on every page


def test_work_user_list_is_paginated(app):
    """Organizations have tens of thousands of users: the list shows one page at a time."""
    with app.app_context():
        from webapp.models import Organization
        contoso = db.session.scalar(select(Organization).where(Organization.partner_id == "1234567"))
        for n in range(55):
            users.create_work_user(contoso, f"bulk{n:03d}@contoso.com", f"Bulk {n}", "Passw0rd!long")
        total = db.session.scalar(select(func.count()).select_from(WorkUser)
                                  .where(WorkUser.organization_id == contoso.id))
    gloria = as_user(app, "gloria.global@contoso.com")
    first = gloria.open("/admin/users")
    second = gloria.open("/admin/users?page=2")
    rows_first = re.findall(r'data-user="([^"]+)"', first.text)
    rows_second = re.findall(r'data-user="([^"]+)"', second.text)
    assert len(rows_first) == 50
    assert len(rows_second) == total - 50
    assert not set(rows_first) & set(rows_second)
    assert "Page 1 of 2" in text(first) and "Page 2 of 2" in text(second)
    # Out-of-range pages show the last page rather than an error.
    assert re.findall(r'data-user="([^"]+)"', gloria.open("/admin/users?page=99").text) == rows_second
