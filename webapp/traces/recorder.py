"""The flow inspector's recorder: every linking attempt as a row with its steps, who may read
it, its JSON document, and how long it is kept (retention, abandoned attempts)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import contains_eager, defer

from ..clock import now, real_now
from ..extensions import db
from ..models import ROLE_GLOBAL_ADMIN, LinkAttempt, WorkUser

OUTCOME_PENDING = "pending"
OUTCOME_ABANDONED = "abandoned"


@dataclass
class Trace:
    """The steps of one request's part of a flow, in the order they happened."""

    steps: list = field(default_factory=list)

    def add(self, step: str, ok: bool | None = None, **detail) -> None:
        self.steps.append({"at": real_now().isoformat(timespec="milliseconds") + "Z",
                           "step": step, "ok": ok, "detail": detail})


# --------------------------------------------------------------------------- recording

def start_attempt(work_user: WorkUser, provider: str) -> LinkAttempt:
    """A new pending attempt (flushed: it has its id; the caller's commit writes it)."""
    attempt = LinkAttempt(work_user_id=work_user.id, provider=provider,
                          started_at=now(), outcome=OUTCOME_PENDING, steps=[])
    db.session.add(attempt)
    db.session.flush()
    return attempt


def save_steps(attempt: LinkAttempt, trace: Trace) -> None:
    """Append the trace's steps to a pending attempt and commit."""
    attempt.steps = list(attempt.steps or []) + trace.steps
    db.session.commit()


def finish_attempt(attempt: LinkAttempt | None, trace: Trace, outcome: str, message: str | None) -> None:
    """Store the trace and the outcome; a failure of the flow never leaves a half-written link."""
    if attempt is None:
        return
    attempt.steps = list(attempt.steps or []) + trace.steps
    attempt.outcome = outcome
    attempt.message = message
    attempt.finished_at = now()
    db.session.commit()


def finish_after_error(attempt: LinkAttempt | None, trace: Trace, message: str) -> None:
    """An unexpected error still closes the trace (QA sees where the flow stopped): whatever the
    request wrote is rolled back first, then the attempt, if it was committed, is finished."""
    attempt_id = attempt.id if attempt is not None else None
    db.session.rollback()
    finish_attempt(find_attempt(attempt_id), trace, "failed", message)


def find_attempt(attempt_id) -> LinkAttempt | None:
    """The attempt a returning flow names, or None."""
    return db.session.get(LinkAttempt, attempt_id) if attempt_id else None


# --------------------------------------------------------------------------- reading

def trace_visible_to(attempt: LinkAttempt, viewer: WorkUser) -> bool:
    """The user who ran the flow, and the Global admin of that user's organization."""
    if attempt.work_user_id == viewer.id:
        return True
    return viewer.has_role(ROLE_GLOBAL_ADMIN) and \
        attempt.work_user.organization_id == viewer.organization_id


def traces_for(viewer: WorkUser, user_email: str | None = None, limit: int = 200) -> list[LinkAttempt]:
    """Newest first: the viewer's own attempts, or the whole organization's for a Global admin
    (narrowed to one work user of the organization with ``user_email``)."""
    stmt = (select(LinkAttempt).options(defer(LinkAttempt.steps))  # the list never shows the steps
            .order_by(LinkAttempt.started_at.desc(), LinkAttempt.id.desc()).limit(limit))
    if viewer.has_role(ROLE_GLOBAL_ADMIN):
        stmt = stmt.join(WorkUser, LinkAttempt.work_user_id == WorkUser.id).where(
            WorkUser.organization_id == viewer.organization_id).options(contains_eager(LinkAttempt.work_user))
        if user_email:
            stmt = stmt.where(WorkUser.email == user_email.strip().lower())
    else:
        stmt = stmt.where(LinkAttempt.work_user_id == viewer.id)
    return list(db.session.scalars(stmt))


def latest_trace(work_user: WorkUser) -> LinkAttempt | None:
    return db.session.scalar(_latest_trace_stmt(), {"work_user_id": work_user.id})


@cache
def _latest_trace_stmt():
    # Built once: My Learn profile reads it on every view (see profile/service.py for the figure).
    # The steps (the whole trace JSON) are not needed to name the attempt there.
    return (select(LinkAttempt).options(defer(LinkAttempt.steps))
            .where(LinkAttempt.work_user_id == bindparam("work_user_id"))
            .order_by(LinkAttempt.started_at.desc(), LinkAttempt.id.desc()).limit(1))


def trace_document(attempt: LinkAttempt) -> dict:
    """The downloadable trace: every step as recorded (secrets were redacted when recorded)."""
    def stamp(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") + "Z" if value else None
    return {
        "attempt_id": attempt.id,
        "provider": attempt.provider,
        "work_user": attempt.work_user.email,
        "organization": attempt.work_user.organization.partner_id,
        "started_at": stamp(attempt.started_at),
        "finished_at": stamp(attempt.finished_at),
        "outcome": shown_outcome(attempt),
        "message": attempt.message,
        "steps": list(attempt.steps or []),
    }


# --------------------------------------------------------------------------- abandoned and retention

def abandoned_cutoff() -> datetime:
    """A flow started before this can no longer come back (its state has expired)."""
    return now() - timedelta(seconds=current_app.config["OIDC_STATE_LIFETIME"])


def shown_outcome(attempt: LinkAttempt) -> str:
    """The outcome to show: a pending attempt past the state's lifetime is abandoned, even
    before close_abandoned_attempts() has recorded it."""
    if attempt.outcome == OUTCOME_PENDING and attempt.started_at < abandoned_cutoff():
        return OUTCOME_ABANDONED
    return attempt.outcome


def close_abandoned_attempts() -> int:
    """Close as abandoned every attempt still pending after the state's lifetime (the browser
    never came back from the provider); returns how many. One UPDATE, committed."""
    closed = db.session.execute(
        update(LinkAttempt)
        .where(LinkAttempt.outcome == OUTCOME_PENDING, LinkAttempt.started_at < abandoned_cutoff())
        .values(outcome=OUTCOME_ABANDONED, finished_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return closed or 0


def trace_cutoff() -> datetime:
    return now() - timedelta(days=current_app.config["LINK_TRACE_RETENTION_DAYS"])


def purge_old_traces() -> int:
    """Delete traces that started more than LINK_TRACE_RETENTION_DAYS ago; returns how many.

    Ages are measured on the one clock (``now()``), so advancing the simulated clock ages traces
    like everything else.
    """
    deleted = db.session.execute(
        delete(LinkAttempt).where(LinkAttempt.started_at < trace_cutoff())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return deleted or 0


# How often, at most, the start of a flow also purges expired traces (per process).
TRACE_PURGE_INTERVAL_SECONDS = 300


def purge_old_traces_if_due() -> int | None:
    """purge_old_traces() unless this process ran it in the last few minutes (cheap to call often)."""
    state = current_app.extensions.setdefault("learnlink_trace_purge", {"at": None})
    moment = time.monotonic()
    if state["at"] is not None and moment - state["at"] < TRACE_PURGE_INTERVAL_SECONDS:
        return None
    state["at"] = moment
    close_abandoned_attempts()
    return purge_old_traces()
