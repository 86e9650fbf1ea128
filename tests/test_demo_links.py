"""Demo data that shows each rule: the move, the cool-off, an unlinked happy path, pending credit."""
from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from tests.browser import Browser
from tests.clock import long_date
from tests.flows import link_account, remove_link, sign_in
from webapp import clock
from webapp.demo.seed import demo_subject, seed_demo
from webapp.extensions import db
from webapp.models import LEARN, LinkedAccount, WorkUser
from webapp.profile import service as profile_service


def links_by_user(app) -> dict[str, list[LinkedAccount]]:
    with app.app_context():
        result: dict[str, list[LinkedAccount]] = {}
        for link in db.session.scalars(select(LinkedAccount).order_by(LinkedAccount.id)):
            result.setdefault(link.work_user.email, []).append(link)
            db.session.expunge(link)
        return result


def test_demo_links_show_each_rule_and_seeding_is_idempotent(app, idp):
    with app.app_context():
        assert seed_demo()["links"] == 4
        assert seed_demo() == {"organizations": 0, "work_users": 0, "links": 0}
        today = clock.today()
        mia_old = db.session.scalar(select(WorkUser).where(WorkUser.email == "mia@contoso.com"))
        carl = db.session.scalar(select(WorkUser).where(WorkUser.email == "carl@contoso.com"))
        old_page = profile_service.profile_section(mia_old, LEARN)
        carl_page = profile_service.profile_section(carl, LEARN)
        assert old_page.moved_away is not None
        assert (carl_page.next_date, carl_page.next_reason) == (today + timedelta(days=20), "cool_off")
    links = links_by_user(app)
    [old], [new] = links["mia@contoso.com"], links["mia@fabrikam.com"]
    assert old.end_reason == "moved to another organization" and old.ended_at == new.linked_at
    assert (today - old.linked_at.date()).days == 40 and (today - new.linked_at.date()).days == 5
    assert new.ended_at is None and new.mcid == "555000111"
    assert (today - links["carl@contoso.com"][0].linked_at.date()).days == 10
    assert links["priya@contoso.com"][0].ended_at is None
    assert "alex@contoso.com" not in links  # the happy path is left to do live
    # The seeded links name the provider's own accounts: same issuer and subject.
    from common.demo_accounts import demo_subject as provider_demo_subject
    from idp_mock.models import Account
    from idp_mock.models import db as idp_db
    with idp.app.app_context():
        for email in ("mia.mover@outlook.com", "carl.cooloff@outlook.com", "priya.pending@outlook.com"):
            subject = idp_db.session.scalar(idp_db.select(Account.subject).filter_by(email=email))
            assert subject == provider_demo_subject("learn", email) == demo_subject("learn", email)
    assert new.issuer == f"{idp.url}/learn" and new.subject == demo_subject("learn", "mia.mover@outlook.com")


def test_demo_pages_tell_the_stories(app, idp):
    with app.app_context():
        seed_demo()
        today = clock.today()
    mia = Browser(app.test_client())
    page = sign_in(mia, "mia@contoso.com")
    assert 'data-notice="moved"' in page.text
    page = sign_in(Browser(app.test_client()), "mia@fabrikam.com")
    assert 'data-notice="moved-here"' in page.text and "555000111" in page.text
    carl = Browser(app.test_client())
    page = sign_in(carl, "carl@contoso.com")
    assert f"Next available association date: {long_date(today + timedelta(days=20))}" in html.unescape(page.text)
    # Carl removes access and tries again: the cool-off refuses it, with the date.
    remove_link(carl, "learn")
    page = link_account(carl, "learn", "carl.cooloff@outlook.com")
    assert ("However, we require a period of 30 days between associations. Your next available date "
            f"for a subsequent association is {long_date(today + timedelta(days=20))}.") in html.unescape(page.text)
