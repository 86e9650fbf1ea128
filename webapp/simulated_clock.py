"""Demo mode: set, advance or reset the simulated clock (see clock.py), each change audited.

The clock moves at most ten years either way from real time, so dates stay plausible. Each move
is shared with the providers (provider_control.share_clock): they date completions by it, so
both apps live on one clock. Each function returns how that call went.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import gettext as _, ngettext

from .audit.service import AUDIT_CLOCK_CHANGED, record_audit
from .clock import CLOCK_OFFSET_KEY, forget_clock_offset, now, real_now
from .extensions import db
from .models import AppSetting, WorkUser
from .provider_control import ProviderCall, share_clock
from .validation import ValidationError

MAX_CLOCK_SHIFT_DAYS = 3650


def set_clock_offset(offset: timedelta, actor: WorkUser | None = None, address: str = "") -> ProviderCall:
    """Store the offset and audit the change; ``actor`` is the operator who moved it (None: the CLI)."""
    setting = db.session.get(AppSetting, CLOCK_OFFSET_KEY)
    value = str(int(offset.total_seconds()))
    previous = setting.value if setting is not None else "0"
    if setting is None:
        db.session.add(AppSetting(key=CLOCK_OFFSET_KEY, value=value))
    else:
        setting.value = value
    record_audit(AUDIT_CLOCK_CHANGED, organization_id=None, target="clock offset", actor=actor,
                 address=address, detail={"from_seconds": int(previous), "to_seconds": int(value)})
    db.session.commit()
    forget_clock_offset()
    return share_clock(offset)  # after the commit: Partner Center's clock is the one that moved


def set_clock(target: date | datetime, actor: WorkUser | None = None, address: str = "") -> ProviderCall:
    """Move the simulated clock to ``target``: a moment, or a day (at real time's time of day)."""
    real = real_now()
    if isinstance(target, datetime):
        offset = target.replace(tzinfo=None) - real
    else:
        offset = timedelta(days=(target - real.date()).days)
    if abs(offset) > timedelta(days=MAX_CLOCK_SHIFT_DAYS):
        raise ValidationError(ngettext("The simulated date must be within %(num)d day of today's real date.",
                                       "The simulated date must be within %(num)d days of today's real date.",
                                       MAX_CLOCK_SHIFT_DAYS), "date")
    return set_clock_offset(offset, actor, address)


def advance_clock(days: int, actor: WorkUser | None = None, address: str = "") -> ProviderCall:
    """Move the simulated clock forward by whole days."""
    if not isinstance(days, int) or days < 1:
        raise ValidationError(_("Enter a number of days of at least 1."), "days")
    return set_clock(now() + timedelta(days=days), actor, address)


def reset_clock(actor: WorkUser | None = None, address: str = "") -> ProviderCall:
    """Back to real time."""
    return set_clock_offset(timedelta(0), actor, address)
