"""The next available association date: always on the profile, the later of both limits."""
from __future__ import annotations

from datetime import datetime, time

from tests.fixtures.clock import day, move_to
from tests.fixtures.rules import in_app_context, learn, user
from webapp.linking import rules
from webapp.linking import service as linking_service
from webapp.models import LEARN
from webapp.profile import service as profile_service


@in_app_context
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


@in_app_context
def test_next_association_date_takes_the_later_of_both_limits():
    starts = [datetime.combine(day(n), time(12)) for n in (340, 30, 0)]  # newest first
    assert rules.next_association_date(starts, day(350)) == (day(370), "cool_off")
    assert rules.next_association_date(starts, day(364)) == (day(370), "cool_off")
    assert rules.next_association_date(starts, day(370)) == (None, None)
    starts = [datetime.combine(day(n), time(12)) for n in (60, 30, 0)]
    assert rules.next_association_date(starts, day(90)) == (day(365), "yearly_cap")
    assert rules.next_association_date([], day(0)) == (None, None)
