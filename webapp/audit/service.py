"""The audit log: an append-only record of sign-ins, links, removals, moves, admin and clock
changes. The caller names who acted and from which address; nothing here reads the request."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import or_, select

from ..clock import now, real_now
from ..extensions import db
from ..models import AuditEvent, WorkUser
from ..spreadsheet import safe_cell

AUDIT_SIGN_IN = "sign_in"
AUDIT_SIGN_IN_FAILED = "sign_in_failed"
AUDIT_SIGN_IN_BLOCKED = "sign_in_blocked"
AUDIT_SIGN_OUT = "sign_out"
AUDIT_LINK_ADDED = "link_added"
AUDIT_LINK_REMOVED = "link_removed"
AUDIT_LINK_MOVED = "link_moved"
AUDIT_USER_CREATED = "user_created"
AUDIT_USER_DELETED = "user_deleted"
AUDIT_CLOCK_CHANGED = "clock_changed"
AUDIT_DEMO_RESET = "demo_reset"


# Translated when shown (lazy_gettext): the log page translates each row's label, not the table.
ACTION_LABELS = {
    AUDIT_SIGN_IN: _l("Signed in"),
    AUDIT_SIGN_IN_FAILED: _l("Sign-in failed"),
    AUDIT_SIGN_IN_BLOCKED: _l("Sign-in blocked (too many failures)"),
    AUDIT_SIGN_OUT: _l("Signed out"),
    AUDIT_LINK_ADDED: _l("Learning account linked"),
    AUDIT_LINK_REMOVED: _l("Learning account removed"),
    AUDIT_LINK_MOVED: _l("Learning account moved"),
    AUDIT_USER_CREATED: _l("Work user created"),
    AUDIT_USER_DELETED: _l("Work user deleted"),
    AUDIT_CLOCK_CHANGED: _l("Simulated clock changed"),
    AUDIT_DEMO_RESET: _l("Demo data reset"),
}


def action_label(action: str) -> str:
    """An action code as the audit log page names it, in the page language."""
    return str(ACTION_LABELS.get(action, action))


# Events about the whole installation (not one organization): every Global admin sees them.
AUDIT_GLOBAL_ACTIONS = (AUDIT_CLOCK_CHANGED, AUDIT_DEMO_RESET)


def record_audit(action: str, *, organization_id: int | None, target: str = "",
                 actor: WorkUser | None = None, actor_email: str | None = None,
                 detail: dict | None = None, address: str | None = "") -> AuditEvent:
    """Append one audit event to the current transaction (the caller's commit writes both).

    The caller names the actor (``actor``, or ``actor_email`` when there is no row to point
    at, as after the demo reset) and the request's ``address`` ("" for the command line).
    """
    event = AuditEvent(
        at=real_now(), clock_at=now(), organization_id=organization_id,
        actor_id=actor.id if actor is not None else None,
        actor_email=(actor.email if actor is not None else (actor_email or ""))[:254],
        action=action, target=(target or "")[:400], address=(address or "")[:64],
        detail=detail or {},
    )
    db.session.add(event)
    return event


def audit_events(organization_id: int, limit: int | None = None) -> list[AuditEvent]:
    """The log a Global admin of the organization sees, newest first."""
    stmt = (select(AuditEvent)
            .where(or_(AuditEvent.organization_id == organization_id,
                       AuditEvent.organization_id.is_(None)
                       & AuditEvent.action.in_(AUDIT_GLOBAL_ACTIONS)))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()))
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


@dataclass(frozen=True)
class AuditRow:
    """One audit event as an organization's Global admin may see it."""

    at: datetime
    clock_at: datetime
    action: str
    actor: str
    target: str
    address: str
    detail: dict

    @property
    def simulated(self) -> bool:
        """The app's clock was moved when this happened: its time differs from the real one."""
        return abs((self.clock_at - self.at).total_seconds()) > 60


def audit_rows(organization_id: int, limit: int | None = None) -> list[AuditRow]:
    """The organization's log, with installation-wide events told without naming who did them.

    The clock and the demo reset are the installation operator's, who may belong to another
    organization: their email and address are never shown to an organization.
    """
    rows = []
    for e in audit_events(organization_id, limit):
        installation_wide = e.organization_id is None
        rows.append(AuditRow(
            e.at, e.clock_at, e.action,
            _("the installation operator") if installation_wide else e.actor_email,
            e.target, "" if installation_wide else e.address, e.detail or {}))
    return rows


AUDIT_CSV_COLUMNS = ("at_utc", "app_clock", "action", "actor", "target", "address", "detail")


def audit_csv_rows(organization_id: int) -> list[list[str]]:
    """The organization's whole log as CSV rows (header first), every cell spreadsheet-safe."""
    rows = [list(AUDIT_CSV_COLUMNS)]
    for e in audit_rows(organization_id):
        rows.append([safe_cell(v) for v in (
            e.at.isoformat(timespec="seconds") + "Z", e.clock_at.isoformat(timespec="seconds") + "Z",
            e.action, e.actor, e.target, e.address,
            json.dumps(e.detail or {}, ensure_ascii=False, sort_keys=True))])
    return rows
