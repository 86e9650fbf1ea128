"""The report pages' figures read from WorkUser.link_flags and WorkUser.active_items equal a
straight recount from the links and achievements after every kind of change: user created, linked
(each provider, both), items added / changed / removed by the refresh, unlinked, the account moved
to another user of the same organization or to another organization, user deleted (listed until
the removal date), rehired."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from tests.fixtures.report_helpers import (apply, delete_user, entry, link, move_clock_to, new_user, org,
                                           personal_account, shown_skilling, straight_skilling)
from webapp import users
from webapp.clock import today
from webapp.extensions import db
from webapp.linking import service as linking_service
from webapp.models import (END_REASON_USER_DELETED, LEARN, PARTNER_UNIVERSITY, Achievement, LinkedAccount,
                           WorkUser)
from webapp.reports import analytics, credit, skills_report


def straight_recount(organization_id: int) -> dict:
    """Every figure recounted in Python from the users and all their links."""
    on = today()
    people = db.session.execute(select(WorkUser.id, WorkUser.email, WorkUser.deleted_at)
                                .where(WorkUser.organization_id == organization_id)).all()
    links = db.session.execute(select(LinkedAccount.id, LinkedAccount.work_user_id, LinkedAccount.organization_id,
                                      LinkedAccount.provider, LinkedAccount.ended_at,
                                      LinkedAccount.end_reason)).all()
    statuses = {analytics.LINK_STATUS_NONE: 0, analytics.LINK_STATUS_LEARN: 0,
                analytics.LINK_STATUS_UNIVERSITY: 0, analytics.LINK_STATUS_BOTH: 0}
    achievements = db.session.execute(select(Achievement.link_id, Achievement.credit_on)).all()
    listed, credited, pending = [], 0, 0
    for person in people:
        mine = [l for l in links if l.work_user_id == person.id]
        active = {l.provider for l in mine if l.ended_at is None}
        if person.deleted_at is None:
            statuses[analytics.link_status(LEARN in active, PARTNER_UNIVERSITY in active)] += 1
            active_ids = {l.id for l in mine if l.ended_at is None}
            for item in achievements:
                if item.link_id in active_ids:
                    credited, pending = ((credited + 1, pending) if item.credit_on <= on
                                         else (credited, pending + 1))
            if any(l.organization_id == organization_id for l in mine if l.ended_at is None):
                listed.append(person.email)
        elif on <= credit.skills_report_removal_date(person.deleted_at) and any(
                l.organization_id == organization_id
                and (l.ended_at is None or l.end_reason == END_REASON_USER_DELETED) for l in mine):
            listed.append(person.email)
    return {"statuses": statuses, "listed": sorted(listed), "credited": credited, "pending": pending,
            "skilling": straight_skilling(organization_id, people, links)}


def shown(organization_id: int) -> dict:
    page, totals = analytics.learn_analytics_page(organization_id, per_page=1000)
    statuses = {k: totals[k] for k in (analytics.LINK_STATUS_NONE, analytics.LINK_STATUS_LEARN,
                                       analytics.LINK_STATUS_UNIVERSITY, analytics.LINK_STATUS_BOTH)}
    assert page.total == sum(statuses.values())
    report = skills_report.skills_report_page(organization_id, per_page=1000)
    assert report.total == len(report.items)
    return {"statuses": statuses, "listed": [u.email for u in report.items],
            "credited": totals["credited"], "pending": totals["pending"], "skilling": shown_skilling(organization_id)}


def assert_figures_equal_recount() -> None:
    db.session.expire_all()
    for partner_id in ("1234567", "7654321"):
        organization_id = org(partner_id).id
        assert shown(organization_id) == straight_recount(organization_id), partner_id


def test_report_figures_equal_a_recount_after_each_kind_of_change(app_ctx):
    move_clock_to(date(2026, 3, 2))
    assert_figures_equal_recount()

    alex, pat, kim = new_user(), new_user(), new_user()  # user created
    assert_figures_equal_recount()

    alex_learn = link(alex)  # Learn link
    assert_figures_equal_recount()
    link(alex, PARTNER_UNIVERSITY)  # both
    pat_account = personal_account(LEARN)
    pat_learn = linking_service.associate_account(pat, pat_account)
    assert_figures_equal_recount()

    apply({alex_learn.id: [entry("a1", date(2026, 1, 5)), entry("a2", date(2026, 2, 27))],
           pat_learn.id: [entry("p1", date(2026, 2, 1)), entry("p3", date(2026, 2, 3), code="AZ-305")]})
    assert_figures_equal_recount()  # items added: credited and pending
    assert shown(org().id)["pending"] > 0
    apply({alex_learn.id: [entry("a1", date(2026, 1, 5)), entry("a2", date(2026, 1, 2))],
           pat_learn.id: []})  # one item changed (now credited), one removed
    assert_figures_equal_recount()
    apply({alex_learn.id: [entry("a1", date(2026, 1, 5)), entry("a2", date(2026, 1, 2))],
           pat_learn.id: [entry("p1", date(2026, 3, 1)), entry("p2", date(2026, 2, 1))]})
    assert_figures_equal_recount()

    linking_service.remove_link(alex, LEARN)  # unlinked
    assert_figures_equal_recount()

    move_clock_to(date(2026, 4, 5))  # 30 days between associations of one account
    assert_figures_equal_recount()
    assert sum(n for _area, _level, n in shown(org().id)["skilling"]) > 0
    linking_service.associate_account(kim, pat_account)  # moved to another user of the organization
    assert_figures_equal_recount()
    fabrikam_user = new_user("7654321")
    move_clock_to(date(2026, 5, 10))
    linking_service.associate_account(fabrikam_user, pat_account)  # moved to another organization
    assert_figures_equal_recount()

    pat_university = link(pat, PARTNER_UNIVERSITY)
    apply({pat_university.id: [entry("u1", date(2026, 5, 1), code="AZ-305", level="advanced")]})
    assert_figures_equal_recount()
    delete_user(pat)  # deleted: listed until the 10th of next month
    assert_figures_equal_recount()
    move_clock_to(date(2026, 6, 10))
    assert_figures_equal_recount()
    assert pat.email in shown(org().id)["listed"]
    assert sum(n for _area, _level, n in shown(org().id)["skilling"]) > 0
    move_clock_to(date(2026, 6, 11))
    assert_figures_equal_recount()
    assert pat.email not in shown(org().id)["listed"]

    rehired = users.create_work_user(org(), pat.email, "Pat again", "Passw0rd!", [])  # rehired
    assert_figures_equal_recount()
    link(rehired)
    assert_figures_equal_recount()


def test_link_flags_hold_the_providers_of_the_active_links(app_ctx):
    move_clock_to(date(2026, 3, 2))
    alex = new_user()
    link(alex)
    link(alex, PARTNER_UNIVERSITY)
    linking_service.remove_link(alex, LEARN)
    flags = db.session.scalar(select(WorkUser.link_flags).where(WorkUser.id == alex.id))
    assert flags == 2  # Partner University only


def test_user_list_pages_are_the_current_users_then_the_deleted_ones_in_email_order(app_ctx):
    from webapp.admin import follow_up, service as admin_service

    move_clock_to(date(2026, 3, 2))
    people = [new_user() for _ in range(7)]
    for person in people[1:6:2]:
        link(person)
    for person in people[::3]:
        delete_user(person)
    admin = db.session.scalar(select(WorkUser).where(
        WorkUser.organization_id == org().id, WorkUser.deleted_at.is_(None),
        WorkUser.roles.contains("global_admin")))
    everyone = db.session.scalars(select(WorkUser).where(WorkUser.organization_id == org().id)).all()
    expected = [u.id for u in sorted(everyone, key=lambda u: (u.deleted_at is not None, u.email, u.id))]
    for per_page in (1, 3, 4):
        listed = []
        first = admin_service.organization_users(admin, 1, per_page)
        for number in range(1, first.pages + 1):
            listed += [u.id for u in admin_service.organization_users(admin, number, per_page).items]
        assert listed == expected, per_page
    for status in follow_up.STATUSES:  # the filters keep the current users who stand there
        shown_ids = [u.id for u in admin_service.organization_users(admin, 1, 1000, status).items]
        linked = {l.work_user_id for l in db.session.scalars(
            select(LinkedAccount).where(LinkedAccount.ended_at.is_(None)))}
        stand = {u.id: (follow_up.LINKED if u.id in linked else follow_up.NOT_LINKED
                        if u.last_signed_in_at else follow_up.NEVER_SIGNED_IN)
                 for u in everyone if u.deleted_at is None}
        assert shown_ids == [i for i in expected if stand.get(i) == status], status
