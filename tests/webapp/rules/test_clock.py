"""The one clock the rules read: set, advance, reset, within ten years either way."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from tests.fixtures.rules import in_app_context
from webapp import clock, simulated_clock, validation


@in_app_context
def test_clock_set_advance_and_reset():
    today = clock.real_now().date()
    simulated_clock.set_clock(today + timedelta(days=10))
    assert clock.today() == today + timedelta(days=10)
    simulated_clock.advance_clock(5)
    assert clock.today() == today + timedelta(days=15)
    assert clock.clock_is_simulated()
    simulated_clock.reset_clock()
    assert clock.today() == today and not clock.clock_is_simulated()


@in_app_context
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
