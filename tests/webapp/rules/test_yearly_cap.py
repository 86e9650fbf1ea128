"""Three associations a year (a rolling 365 days) per individual: every association counts, moves
included; Partner University counts per account."""
from __future__ import annotations

from tests.fixtures.clock import day, long_date, move_app_to, move_to
from tests.fixtures.flows import remove_link, sign_in
from tests.fixtures.rules import (
    YEARLY, active_links, association_count, fresh_link, in_app_context, learn,
    learn_association_count, link_then_remove, pu, refused, text, user)
from webapp.linking import service as linking_service
from webapp.models import LEARN


@in_app_context
def test_yearly_cap_fourth_association_refused_until_oldest_leaves_window():
    for n in (0, 30, 60):
        link_then_remove("alex@contoso.com", learn(), n)
    move_to(90)
    error = refused("alex@contoso.com", learn())
    assert error.code == "yearly_cap" and error.next_date == day(365)
    assert error.message == YEARLY.format(date=long_date(day(365)))
    move_to(364)
    assert refused("alex@contoso.com", learn()).next_date == day(365)
    move_to(365)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    assert association_count(LEARN, "987654321") == 4


@in_app_context
def test_yearly_cap_is_a_rolling_365_days():
    """After the oldest leaves, the next one frees up when the second oldest leaves."""
    for n in (0, 100, 200):
        link_then_remove("alex@contoso.com", learn(), n)
    link_then_remove("alex@contoso.com", learn(), 365)
    move_to(400)
    assert refused("alex@contoso.com", learn()).next_date == day(465)
    move_to(465)
    linking_service.associate_account(user("alex@contoso.com"), learn())


@in_app_context
def test_every_association_counts_across_organizations():
    """Moves count: Contoso, Fabrikam, back to Contoso, then a fourth within the year is refused."""
    account = learn("mia.mover@outlook.com", "555000111")
    for n, who in ((0, "mia@contoso.com"), (30, "mia@fabrikam.com"), (60, "mia@contoso.com")):
        move_to(n)
        linking_service.associate_account(user(who), account)
    move_to(200)
    error = refused("mia@fabrikam.com", account)
    assert error.code == "yearly_cap" and error.next_date == day(365)
    [active] = active_links()
    assert active.work_user.email == "mia@contoso.com"


@in_app_context
def test_partner_university_limits_are_per_partner_university_account():
    for n in (0, 30, 60):
        link_then_remove("pat@contoso.com", pu(), n)
    move_to(90)
    assert refused("pat@contoso.com", pu()).code == "yearly_cap"
    # Another Partner University account has its own count.
    linking_service.associate_account(user("pat@contoso.com"), pu("sam.student@outlook.com"))


def test_yearly_cap_fourth_refused_until_oldest_leaves_window_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    for n in (0, 30, 60):
        move_app_to(app, n)
        assert "is now linked" in text(fresh_link(browser, "learn", "alex.learner@outlook.com"))
        remove_link(browser, "learn")
    move_app_to(app, 90)
    page = fresh_link(browser, "learn", "alex.learner@outlook.com")
    assert YEARLY.format(date=long_date(day(365))) in text(page)
    assert f"Next available association date: {long_date(day(365))}" in text(page)
    move_app_to(app, 365)
    assert "is now linked" in text(fresh_link(browser, "learn", "alex.learner@outlook.com"))
    assert learn_association_count(app, "987654321") == 4
