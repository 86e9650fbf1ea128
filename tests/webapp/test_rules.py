"""The linking rules, straight through webapp.services (no HTTP): fast and exact.

Every date is set with the one clock (simulated_clock.set_clock_offset), never by sleeping.
Day N below means noon UTC of BASE_DAY + N days.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from webapp import clock, simulated_clock, validation
from webapp.admin import service as admin_service
from webapp.extensions import db
from webapp.linking import rules
from webapp.linking import service as linking_service
from webapp.models import (END_REASON_MOVED, END_REASON_MOVED_USER, END_REASON_REMOVED, LEARN,
                           PARTNER_UNIVERSITY, LearningIdentity, LinkedAccount, WorkUser)
from webapp.profile import service as profile_service

from tests.fixtures.clock import day, long_date, move_to

ISSUER = "http://idp.test/learn"
PU_ISSUER = "http://idp.test/partner-university"

COOL_OFF_TEXT = ("You've attempted to associate with a partner organization. However, we require a "
                 "period of 30 days between associations. Your next available date for a subsequent "
                 "association is {date}.")
YEARLY_TEXT = ("You've attempted to associate with a partner organization. However, an individual is "
               "limited to three associations a year. Your next available date for a subsequent "
               "association is {date}.")


def user(email: str) -> WorkUser:
    return db.session.scalar(select(WorkUser).where(WorkUser.email == email))


def learn(email: str = "alex.learner@outlook.com", mcid: str | None = "987654321", *,
          subject: str | None = None, kind: str = "personal") -> rules.PersonalAccount:
    return rules.PersonalAccount(provider=LEARN, issuer=ISSUER, subject=subject or f"sub:{email}",
                                    email=email, display_name=email.split("@")[0],
                                    account_type=kind, mcid=mcid)


def pu(email: str = "pat.pu@outlook.com") -> rules.PersonalAccount:
    return rules.PersonalAccount(provider=PARTNER_UNIVERSITY, issuer=PU_ISSUER,
                                    subject=f"sub:{email}", email=email, display_name=email)


def links() -> list[LinkedAccount]:
    return list(db.session.scalars(select(LinkedAccount).order_by(LinkedAccount.id)))


def active_links() -> list[LinkedAccount]:
    return [link for link in links() if link.ended_at is None]


def association_count(provider: str, key: str) -> int:
    return db.session.scalar(select(LearningIdentity.association_count).where(
        LearningIdentity.provider == provider, LearningIdentity.identity_key == key)) or 0


def refused(work_email: str, account: rules.PersonalAccount) -> rules.LinkRefused:
    before = (len(links()), db.session.scalar(select(func.sum(LearningIdentity.association_count))))
    with pytest.raises(rules.LinkRefused) as info:
        linking_service.associate_account(user(work_email), account)
    after = (len(links()), db.session.scalar(select(func.sum(LearningIdentity.association_count))))
    assert after == before, "a refused association must write nothing"
    return info.value


def link_then_remove(work_email: str, account: rules.PersonalAccount, on_day: int) -> LinkedAccount:
    move_to(on_day)
    link = linking_service.associate_account(user(work_email), account)
    linking_service.remove_link(user(work_email), account.provider)
    return link


pytestmark = pytest.mark.usefixtures("app_ctx")


# --------------------------------------------------------------------------- one account per user

def test_one_learn_account_per_work_user():
    move_to(0)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(40)
    error = refused("alex@contoso.com", learn("other@outlook.com", "111222333"))
    assert error.code == "one_per_user"
    assert "Remove access" in error.message and "alex.learner@outlook.com" in error.message
    assert [link.mcid for link in active_links()] == ["987654321"]


def test_one_partner_university_account_per_work_user():
    move_to(0)
    linking_service.associate_account(user("pat@contoso.com"), pu())
    move_to(40)
    assert refused("pat@contoso.com", pu("sam.student@outlook.com")).code == "one_per_user"
    # One of each provider is fine.
    linking_service.associate_account(user("pat@contoso.com"), learn())
    assert sorted(link.provider for link in active_links()) == [LEARN, PARTNER_UNIVERSITY]


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


def test_remove_access_ends_the_link_and_keeps_history():
    move_to(0)
    link = linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(3)
    ended = linking_service.remove_link(user("alex@contoso.com"), LEARN)
    assert ended.id == link.id and ended.end_reason == END_REASON_REMOVED
    assert ended.ended_at.date() == day(3)
    assert active_links() == [] and len(links()) == 1
    assert linking_service.remove_link(user("alex@contoso.com"), LEARN) is None


# --------------------------------------------------------------------------- one organization at a time

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


def test_move_within_the_cool_off_is_refused_and_the_old_link_stays():
    move_to(0)
    linking_service.associate_account(user("mia@contoso.com"), learn("mia.mover@outlook.com", "555000111"))
    move_to(10)
    error = refused("mia@fabrikam.com", learn("mia.mover@outlook.com", "555000111"))
    assert error.code == "cool_off" and error.next_date == day(30)
    [link] = active_links()
    assert link.work_user.email == "mia@contoso.com"


def test_personal_account_is_linked_to_one_work_user_at_a_time():
    """Same organization, another work user: the account moves; the reason says so."""
    move_to(0)
    first = linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(30)
    second = linking_service.associate_account(user("carl@contoso.com"), learn())
    db.session.refresh(first)
    assert first.end_reason == END_REASON_MOVED_USER and first.ended_at == second.linked_at
    assert [link.id for link in active_links()] == [second.id]


def test_partner_university_account_moves_between_organizations_too():
    move_to(0)
    linking_service.associate_account(user("pat@contoso.com"), pu())
    move_to(30)
    linking_service.associate_account(user("mia@fabrikam.com"), pu())
    assert [(link.work_user.email, link.end_reason) for link in links()] == [
        ("pat@contoso.com", END_REASON_MOVED), ("mia@fabrikam.com", None)]


# --------------------------------------------------------------------------- 30 days between associations

def test_cool_off_day_29_refused_day_30_allowed():
    link_then_remove("alex@contoso.com", learn(), 0)
    move_to(29)
    error = refused("alex@contoso.com", learn())
    assert error.code == "cool_off" and error.next_date == day(30)
    assert error.message == COOL_OFF_TEXT.format(date=long_date(day(30)))
    move_to(30)
    link = linking_service.associate_account(user("alex@contoso.com"), learn())
    assert link.linked_at.date() == day(30)


def test_cool_off_counts_from_the_start_of_the_previous_association():
    """Removing the link on day 20 does not restart the 30 days."""
    move_to(0)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    move_to(20)
    linking_service.remove_link(user("alex@contoso.com"), LEARN)
    move_to(30)
    linking_service.associate_account(user("alex@contoso.com"), learn())


def test_days_are_whole_utc_calendar_days():
    """Linked at 23:59 UTC on day 0, the next association is allowed from 00:00 UTC on day 30."""
    move_to(0, time(23, 59))
    linking_service.associate_account(user("alex@contoso.com"), learn())
    linking_service.remove_link(user("alex@contoso.com"), LEARN)
    move_to(29, time(23, 58))
    assert refused("alex@contoso.com", learn()).next_date == day(30)
    move_to(30, time(0, 1))
    linking_service.associate_account(user("alex@contoso.com"), learn())


def test_limits_follow_the_individual_not_the_work_user():
    """The 30 days apply to the MCID wherever it is linked next."""
    link_then_remove("alex@contoso.com", learn(), 0)
    move_to(12)
    assert refused("mia@fabrikam.com", learn()).code == "cool_off"
    # Another MCID at the same work user is a different individual's account: not limited.
    linking_service.associate_account(user("alex@contoso.com"), learn("someone@outlook.com", "222333444"))


# --------------------------------------------------------------------------- three associations a year

def test_yearly_cap_fourth_association_refused_until_oldest_leaves_window():
    for n in (0, 30, 60):
        link_then_remove("alex@contoso.com", learn(), n)
    move_to(90)
    error = refused("alex@contoso.com", learn())
    assert error.code == "yearly_cap" and error.next_date == day(365)
    assert error.message == YEARLY_TEXT.format(date=long_date(day(365)))
    move_to(364)
    assert refused("alex@contoso.com", learn()).next_date == day(365)
    move_to(365)
    linking_service.associate_account(user("alex@contoso.com"), learn())
    assert association_count(LEARN, "987654321") == 4


def test_yearly_cap_is_a_rolling_365_days():
    """After the oldest leaves, the next one frees up when the second oldest leaves."""
    for n in (0, 100, 200):
        link_then_remove("alex@contoso.com", learn(), n)
    link_then_remove("alex@contoso.com", learn(), 365)
    move_to(400)
    assert refused("alex@contoso.com", learn()).next_date == day(465)
    move_to(465)
    linking_service.associate_account(user("alex@contoso.com"), learn())


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


def test_partner_university_limits_are_per_partner_university_account():
    for n in (0, 30, 60):
        link_then_remove("pat@contoso.com", pu(), n)
    move_to(90)
    assert refused("pat@contoso.com", pu()).code == "yearly_cap"
    # Another Partner University account has its own count.
    linking_service.associate_account(user("pat@contoso.com"), pu("sam.student@outlook.com"))


def test_profile_always_shows_the_next_available_date():
    alex = user("alex@contoso.com")
    move_to(0)
    assert profile_service.profile_section(alex, LEARN).next_date == day(0)  # never linked: today
    linking_service.associate_account(alex, learn())
    section = profile_service.profile_section(alex, LEARN)
    assert (section.next_date, section.next_reason) == (day(30), "cool_off")
    move_to(30)
    section = profile_service.profile_section(alex, LEARN)
    assert (section.next_date, section.next_reason) == (day(30), None)
    for n in (30, 60):
        linking_service.remove_link(alex, LEARN)
        move_to(n)
        linking_service.associate_account(alex, learn())
    move_to(90)
    section = profile_service.profile_section(alex, LEARN)
    assert (section.next_date, section.next_reason) == (day(365), "yearly_cap")


def test_next_association_date_takes_the_later_of_both_limits():
    starts = [datetime.combine(day(n), time(12)) for n in (340, 30, 0)]  # newest first
    assert rules.next_association_date(starts, day(350)) == (day(370), "cool_off")
    assert rules.next_association_date(starts, day(364)) == (day(370), "cool_off")
    assert rules.next_association_date(starts, day(370)) == (None, None)
    starts = [datetime.combine(day(n), time(12)) for n in (60, 30, 0)]
    assert rules.next_association_date(starts, day(90)) == (day(365), "yearly_cap")
    assert rules.next_association_date([], day(0)) == (None, None)


# --------------------------------------------------------------------------- Learn prerequisites

def test_learn_sign_in_with_a_work_account_is_refused_with_guidance():
    move_to(0)
    error = refused("walt@contoso.com", learn("walt.work@contoso.com", "123450001", kind="work"))
    assert error.code == "work_account"
    assert error.message == (
        "You signed in to Microsoft Learn with a work (Microsoft Entra ID) account. Sign in to your "
        "Learn profile, open Settings > Account management and associate your personal Microsoft "
        "account (MSA); then select Associate Microsoft Learning Account again and sign in with that "
        "personal account.")


def test_learn_profile_without_mcid_is_refused_with_guidance():
    move_to(0)
    error = refused("nina@contoso.com", learn("nina.nomcid@outlook.com", None))
    assert error.code == "no_mcid"
    assert error.message == (
        "Your Learn profile has no MCID yet. Sign in to Microsoft Learn, complete your certification "
        "profile so that an MCID is generated, then select Associate Microsoft Learning Account again.")
    assert association_count(LEARN, "") == 0


def test_partner_university_has_no_mcid_prerequisite():
    move_to(0)
    link = linking_service.associate_account(user("pat@contoso.com"), pu())
    assert link.mcid is None


def test_a_deleted_work_user_cannot_link():
    move_to(0)
    admin_service.delete_work_user(user("gloria.global@contoso.com"), user("alex@contoso.com"))
    assert refused("alex@contoso.com", learn()).code == "user_deleted"


# --------------------------------------------------------------------------- simulated clock

def test_clock_set_advance_and_reset():
    today = clock.real_now().date()
    simulated_clock.set_clock(today + timedelta(days=10))
    assert clock.today() == today + timedelta(days=10)
    simulated_clock.advance_clock(5)
    assert clock.today() == today + timedelta(days=15)
    assert clock.clock_is_simulated()
    simulated_clock.reset_clock()
    assert clock.today() == today and not clock.clock_is_simulated()


def test_clock_moves_both_ways_within_ten_years_and_refuses_bad_steps():
    today = clock.real_now().date()
    simulated_clock.set_clock(today - timedelta(days=300))
    assert clock.today() == today - timedelta(days=300)
    moment = datetime.combine(today + timedelta(days=3), time(8, 30))
    simulated_clock.set_clock(moment)
    assert abs(clock.now() - moment) < timedelta(seconds=5)
    simulated_clock.advance_clock(2)  # keeps the time of day
    assert abs(clock.now() - (moment + timedelta(days=2))) < timedelta(seconds=5)
    for bad in (lambda: simulated_clock.set_clock(today - timedelta(days=simulated_clock.MAX_CLOCK_SHIFT_DAYS + 1)),
                lambda: simulated_clock.set_clock(today + timedelta(days=simulated_clock.MAX_CLOCK_SHIFT_DAYS + 1)),
                lambda: simulated_clock.advance_clock(0),
                lambda: simulated_clock.advance_clock(-3)):
        with pytest.raises(validation.ValidationError):
            bad()
    assert clock.today() == today + timedelta(days=5)
