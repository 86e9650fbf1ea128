"""An MCID (or a Partner University account) belongs to one organization and one work user at a
time: linking it elsewhere ends the old link, keeps its history, and both profiles say so."""
from __future__ import annotations

from tests.fixtures.browser import Browser
from tests.fixtures.clock import day, long_date, move_app_to, move_to
from tests.fixtures.flows import sign_in
from tests.fixtures.rules import (
    COOL_OFF, active_links, fresh_link, in_app_context, learn, links, pu, refused, rows, text,
    user)
from webapp.extensions import db
from webapp.linking import service as linking_service
from webapp.models import END_REASON_MOVED, END_REASON_MOVED_USER, LEARN
from webapp.profile import service as profile_service


@in_app_context
def test_mcid_moves_to_another_organization_and_both_profiles_say_so():
    mia_contoso, mia_fabrikam = user("mia@contoso.com"), user("mia@fabrikam.com")
    account = learn("mia.mover@outlook.com", "555000111")
    move_to(0)
    first = linking_service.associate_account(mia_contoso, account)
    move_to(30)
    second = linking_service.associate_account(mia_fabrikam, account)
    db.session.refresh(first)
    assert first.ended_at == second.linked_at and first.end_reason == END_REASON_MOVED
    assert [link.id for link in active_links()] == [second.id]
    assert len(links()) == 2  # history kept
    old_page = profile_service.profile_section(mia_contoso, LEARN)
    assert old_page.link is None and old_page.moved_away.id == first.id
    new_page = profile_service.profile_section(mia_fabrikam, LEARN)
    assert new_page.link.id == second.id and new_page.moved_from.id == first.id
    assert new_page.moved_from.organization.name == "Contoso"
    # Both pages give the individual's next date: 30 days after the move.
    assert old_page.next_date == new_page.next_date == day(60)


@in_app_context
def test_move_within_the_cool_off_is_refused_and_the_old_link_stays():
    move_to(0)
    linking_service.associate_account(user("mia@contoso.com"), learn("mia.mover@outlook.com", "555000111"))
    move_to(10)
    error = refused("mia@fabrikam.com", learn("mia.mover@outlook.com", "555000111"))
    assert error.code == "cool_off" and error.next_date == day(30)
    [link] = active_links()
    assert link.work_user.email == "mia@contoso.com"


@in_app_context
def test_personal_account_is_linked_to_one_work_user_at_a_time():
    """Same organization, another work user: the account moves; the reason says so."""
    move_to(0)
    first = linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(30)
    second = linking_service.associate_account(user("carl@contoso.com"), learn())
    db.session.refresh(first)
    assert first.end_reason == END_REASON_MOVED_USER and first.ended_at == second.linked_at
    assert [link.id for link in active_links()] == [second.id]


@in_app_context
def test_partner_university_account_moves_between_organizations_too():
    move_to(0)
    linking_service.associate_account(user("pat@contoso.com"), pu())
    move_to(30)
    linking_service.associate_account(user("mia@fabrikam.com"), pu())
    assert [(link.work_user.email, link.end_reason) for link in links()] == [
        ("pat@contoso.com", END_REASON_MOVED), ("mia@fabrikam.com", None)]


def test_mcid_moves_to_another_organization_http(app, idp):
    contoso, fabrikam = Browser(app.test_client()), Browser(app.test_client())
    sign_in(contoso, "alex@contoso.com")
    sign_in(fabrikam, "mia@fabrikam.com")
    move_app_to(app, 0)
    assert "is now linked" in text(fresh_link(contoso, "learn", "alex.learner@outlook.com"))
    # Within the 30 days, Fabrikam's association is refused and the Contoso link stays.
    move_app_to(app, 10)
    page = fresh_link(fabrikam, "learn", "alex.learner@outlook.com")
    assert COOL_OFF.format(date=long_date(day(30))) in text(page)
    assert rows(app) == [("alex@contoso.com", "987654321", None)]
    move_app_to(app, 30)
    page = fresh_link(fabrikam, "learn", "alex.learner@outlook.com")
    assert "is now linked" in text(page)
    assert 'data-notice="moved-here"' in page.text and "its link with Contoso ended automatically" in text(page)
    assert rows(app) == [("alex@contoso.com", "987654321", "moved to another organization"),
                         ("mia@fabrikam.com", "987654321", None)]
    old = contoso.open("/profile")
    assert 'data-notice="moved"' in old.text
    assert ("Your Microsoft Learn account alex.learner@outlook.com was linked to another organization "
            f"or work account on {long_date(day(30))}, so it was unlinked here automatically.") in text(old)
    assert "Moved to another organization" in old.text  # the history row's reason
    assert "Associate Microsoft Learning Account" in old.text
    assert f"Next available association date: {long_date(day(60))}" in text(old)


def test_personal_account_moves_to_another_work_user_of_the_same_organization_http(app):
    alex, carl = Browser(app.test_client()), Browser(app.test_client())
    sign_in(alex, "alex@contoso.com")
    sign_in(carl, "carl@contoso.com")
    move_app_to(app, 0)
    fresh_link(alex, "learn", "alex.learner@outlook.com")
    move_app_to(app, 30)
    assert "is now linked" in text(fresh_link(carl, "learn", "alex.learner@outlook.com"))
    assert rows(app) == [("alex@contoso.com", "987654321", "moved to another work account"),
                         ("carl@contoso.com", "987654321", None)]
    page = alex.open("/profile")
    assert 'data-notice="moved"' in page.text and "Moved to another work account" in page.text
