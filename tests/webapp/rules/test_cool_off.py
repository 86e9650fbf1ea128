"""The 30 days between associations, counted from the start of the previous one, in whole UTC
calendar days, following the individual; the exact refusal message with its date."""
from __future__ import annotations

from datetime import time

from tests.fixtures.clock import day, long_date, move_app_to, move_to
from tests.fixtures.flows import remove_link, sign_in
from tests.fixtures.rules import (
    COOL_OFF, fresh_link, in_app_context, learn, learn_association_count, link_then_remove,
    refused, rows, text, user)
from webapp.linking import service as linking_service
from webapp.models import LEARN


@in_app_context
def test_cool_off_day_29_refused_day_30_allowed():
    link_then_remove("alex@contoso.com", learn(), 0)
    move_to(29)
    error = refused("alex@contoso.com", learn())
    assert error.code == "cool_off" and error.next_date == day(30)
    assert error.message == COOL_OFF.format(date=long_date(day(30)))
    move_to(30)
    link = linking_service.associate_account(user("alex@contoso.com"), learn())
    assert link.linked_at.date() == day(30)


@in_app_context
def test_cool_off_counts_from_the_start_of_the_previous_association():
    """Removing the link on day 20 does not restart the 30 days."""
    move_to(0)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(20)
    linking_service.remove_link(user("alex@contoso.com"), LEARN)
    move_to(30)
    linking_service.associate_account(user("alex@contoso.com"), learn())


@in_app_context
def test_days_are_whole_utc_calendar_days():
    """Linked at 23:59 UTC on day 0, the next association is allowed from 00:00 UTC on day 30."""
    move_to(0, time(23, 59))
    linking_service.associate_account(user("alex@contoso.com"), learn())
    linking_service.remove_link(user("alex@contoso.com"), LEARN)
    move_to(29, time(23, 58))
    assert refused("alex@contoso.com", learn()).next_date == day(30)
    move_to(30, time(0, 1))
    linking_service.associate_account(user("alex@contoso.com"), learn())


@in_app_context
def test_limits_follow_the_individual_not_the_work_user():
    """The 30 days apply to the MCID wherever it is linked next."""
    link_then_remove("alex@contoso.com", learn(), 0)
    move_to(12)
    assert refused("mia@fabrikam.com", learn()).code == "cool_off"
    # Another MCID at the same work user is a different individual's account: not limited.
    linking_service.associate_account(user("alex@contoso.com"), learn("someone@outlook.com", "222333444"))


def test_cool_off_day_29_refused_day_30_allowed_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    move_app_to(app, 0)
    assert "is now linked" in text(fresh_link(browser, "learn", "alex.learner@outlook.com"))
    page = remove_link(browser, "learn")
    assert f"Next available association date: {long_date(day(30))}" in text(page)
    move_app_to(app, 29)
    page = fresh_link(browser, "learn", "alex.learner@outlook.com")
    assert page.url == "http://localhost/profile"
    assert COOL_OFF.format(date=long_date(day(30))) in text(page)
    assert f"Next available association date: {long_date(day(30))}" in text(page)
    assert [r[2] for r in rows(app)] == ["removed by user"]
    move_app_to(app, 30)
    page = fresh_link(browser, "learn", "alex.learner@outlook.com")
    assert "is now linked" in text(page)
    assert [r[2] for r in rows(app)] == ["removed by user", None]
    assert learn_association_count(app, "987654321") == 2
