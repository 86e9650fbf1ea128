"""The date the providers give completions: Partner Center's simulated date.

Partner Center keeps one clock (real UTC time plus an offset, moved in demo mode) and tells the
providers each move over the QA control API (``PUT /qa/clock``). The offset is kept in the
database, not in process memory, so every worker dates a completion the same day. Tokens'
``iat``/``exp`` keep real time: only completion dates follow the simulated clock.
"""
from __future__ import annotations

import datetime as dt

from .models import ProviderSetting
from .models import db
from .models import utcnow

CLOCK_OFFSET_KEY = "clock_offset_seconds"
#: Partner Center moves its clock at most ten years either way; so do the providers.
MAX_OFFSET_SECONDS = 3650 * 24 * 3600


def clock_offset() -> dt.timedelta:
    value = db.session.scalar(
        db.select(ProviderSetting.value).where(ProviderSetting.key == CLOCK_OFFSET_KEY))
    return dt.timedelta(seconds=int(value)) if value is not None else dt.timedelta(0)


def today() -> dt.date:
    """The day a completion made now is dated (the simulated date Partner Center set)."""
    return (utcnow() + clock_offset()).date()


def set_clock_offset(seconds: int) -> None:
    """Store the offset (0: real time); the caller commits."""
    setting = db.session.get(ProviderSetting, CLOCK_OFFSET_KEY)
    if setting is None:
        db.session.add(ProviderSetting(key=CLOCK_OFFSET_KEY, value=str(seconds)))
    else:
        setting.value = str(seconds)
