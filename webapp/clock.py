"""The one clock every date rule reads (naive UTC), and the simulated offset demo mode adds to it.

The offset is kept in the database (``AppSetting``) so every worker reads the same date; it is
read once per request (``flask.g``). Moving it (audited) is simulated_clock.py.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache

from flask import g, has_app_context
from sqlalchemy import select

from .extensions import db
from .models import AppSetting

CLOCK_OFFSET_KEY = "clock_offset_seconds"


def real_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def clock_offset() -> timedelta:
    """The simulated clock's offset from real time, shared by all workers via the database."""
    if has_app_context() and "clock_offset" in g:
        return g.clock_offset
    value = db.session.scalar(_clock_offset_stmt())
    offset = timedelta(seconds=int(value)) if value is not None else timedelta(0)
    if has_app_context():
        g.clock_offset = offset
    return offset


@cache
def _clock_offset_stmt():
    # Built once: every page reads the clock (see profile/service.py for the figure).
    return select(AppSetting.value).where(AppSetting.key == CLOCK_OFFSET_KEY)


def forget_clock_offset() -> None:
    """Read the offset again at the next use (after it was changed or its row deleted)."""
    g.pop("clock_offset", None)


def now() -> datetime:
    """The one clock every date rule uses (naive UTC)."""
    return real_now() + clock_offset()


def today() -> date:
    return now().date()


def clock_is_simulated() -> bool:
    return abs(clock_offset()) >= timedelta(minutes=1)
