"""One Learn account (MCID) and one Partner University account per work user; removing access;
signing in again with the linked account is a no-op that does not count."""
from __future__ import annotations

from sqlalchemy import select

from tests.fixtures.clock import day, move_app_to, move_to
from tests.fixtures.flows import provider_consent, provider_sign_in, sign_in
from tests.fixtures.rules import (
    active_links, association_count, fresh_link, in_app_context, learn, learn_association_count,
    links, pu, refused, rows, text, user)
from webapp.extensions import db
from webapp.linking import service as linking_service
from webapp.models import END_REASON_REMOVED, LEARN, PARTNER_UNIVERSITY, LinkedAccount


@in_app_context
def test_one_learn_account_per_work_user():
    move_to(0)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(40)
    error = refused("alex@contoso.com", learn("other@outlook.com", "111222333"))
    assert error.code == "one_per_user"
    assert "Remove access" in error.message and "alex.learner@outlook.com" in error.message
    assert [link.mcid for link in active_links()] == ["987654321"]


@in_app_context
def test_one_partner_university_account_per_work_user():
    move_to(0)
    linking_service.associate_account(user("pat@contoso.com"), pu())
    move_to(40)
    assert refused("pat@contoso.com", pu("sam.student@outlook.com")).code == "one_per_user"
    # One of each provider is fine.
    linking_service.associate_account(user("pat@contoso.com"), learn())
    assert sorted(link.provider for link in active_links()) == [LEARN, PARTNER_UNIVERSITY]


@in_app_context
def test_relinking_the_active_account_is_a_no_op_that_does_not_count():
    move_to(0)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(29)
    error = refused("alex@contoso.com", learn())
    assert error.code == "already_linked"
    assert error.message == "This Microsoft Learn account is already linked to your work account."
    assert association_count(LEARN, "987654321") == 1
    # Another sign-in of the same Learn profile (same MCID, another personal account) is the same.
    assert refused("alex@contoso.com", learn("alex.other@outlook.com", subject="x")).code == "already_linked"
    # Had the no-op counted, day 30 would still be in a cool-off.
    move_to(30)
    linking_service.remove_link(user("alex@contoso.com"), LEARN)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    assert association_count(LEARN, "987654321") == 2


@in_app_context
def test_remove_access_ends_the_link_and_keeps_history():
    move_to(0)
    link = linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(3)
    ended = linking_service.remove_link(user("alex@contoso.com"), LEARN)
    assert ended.id == link.id and ended.end_reason == END_REASON_REMOVED
    assert ended.ended_at.date() == day(3)
    assert active_links() == [] and len(links()) == 1
    assert linking_service.remove_link(user("alex@contoso.com"), LEARN) is None


def test_one_learn_account_per_work_user_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    move_app_to(app, 0)
    fresh_link(browser, "learn", "alex.learner@outlook.com")
    move_app_to(app, 40)
    token = browser.open("/profile").form_with(action_contains="/link/learn/remove").fields["csrf_token"]
    browser.http.cookies.clear()
    page = browser.open("/link/learn/start", method="POST", data={"csrf_token": token})
    page = provider_consent(browser, provider_sign_in(browser, page, "mia.mover@outlook.com"))
    assert "One Microsoft Learn account can be linked per work account" in text(page)
    assert rows(app) == [("alex@contoso.com", "987654321", None)]


def test_one_partner_university_account_per_work_user_http(app, browser):
    sign_in(browser, "pat@contoso.com")
    move_app_to(app, 0)
    assert "is now linked" in text(fresh_link(browser, "partner-university", "pat.pu@outlook.com"))
    token = browser.open("/profile").form_with(
        action_contains="/link/partner-university/remove").fields["csrf_token"]
    browser.http.cookies.clear()
    page = browser.open("/link/partner-university/start", method="POST", data={"csrf_token": token})
    page = provider_consent(browser, provider_sign_in(browser, page, "sam.student@outlook.com"))
    assert "One Partner University account can be linked per work account" in text(page)
    with app.app_context():
        assert [(r.email, r.ended_at) for r in db.session.scalars(select(LinkedAccount))] == [
            ("pat.pu@outlook.com", None)]


def test_relinking_the_linked_account_is_a_no_op_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    move_app_to(app, 0)
    fresh_link(browser, "learn", "alex.learner@outlook.com")
    # The profile offers no link button while linked; the start endpoint is still reachable.
    profile = browser.open("/profile")
    token = profile.form_with(action_contains="/link/learn/remove").fields["csrf_token"]
    browser.http.cookies.clear()
    page = browser.open("/link/learn/start", method="POST", data={"csrf_token": token})
    page = provider_consent(browser, provider_sign_in(browser, page, "alex.learner@outlook.com"))
    assert "This Microsoft Learn account is already linked to your work account." in text(page)
    assert 'flash-info' in page.text
    assert rows(app) == [("alex@contoso.com", "987654321", None)]
    assert learn_association_count(app, "987654321") == 1
