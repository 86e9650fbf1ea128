"""Moving the one clock in tests: day N is noon UTC of BASE_DAY + N days (never a sleep)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from webapp import clock, simulated_clock

BASE_DAY = clock.real_now().date() + timedelta(days=1)


def day(n: int) -> date:
    return BASE_DAY + timedelta(days=n)


def long_date(value: date) -> str:
    """Babel's English "long" date, as the messages show it."""
    return f"{value:%B} {value.day}, {value.year}"


def move_to(n: int, at: time = time(12, 0)) -> None:
    """Set the simulated clock to day n at the given UTC time (needs an app context)."""
    simulated_clock.set_clock_offset(datetime.combine(day(n), at) - clock.real_now())
    assert clock.now().date() == day(n)


def move_app_to(app, n: int) -> None:
    with app.app_context():
        move_to(n)
