"""Helpers for the credit and reports tests: the simulated clock, links and provider accounts."""
from __future__ import annotations

import itertools
import re
from datetime import date, datetime, time

from sqlalchemy import event, select

from webapp import services, simulated_clock, users
from webapp.extensions import db
from webapp.linking import rules
from webapp.linking import service as linking_service
from webapp.models import LEARN, Organization, WorkUser

_serial = itertools.count(1)


def move_clock_to(day: date, at: time = time(12, 0)) -> None:
    """Set the one simulated clock (through the service) to ``day`` at noon UTC."""
    simulated_clock.set_clock(datetime.combine(day, at))


def org(partner_id: str = "1234567") -> Organization:
    return db.session.scalar(select(Organization).where(Organization.partner_id == partner_id))


def user(email: str) -> WorkUser:
    return db.session.scalar(select(WorkUser).where(WorkUser.email == email))


def new_user(partner_id: str = "1234567", roles=()) -> WorkUser:
    n = next(_serial)
    return users.create_work_user(org(partner_id), f"learner{n:05d}@example.com", f"Learner {n:05d}",
                                     "Passw0rd!", list(roles))


def personal_account(provider: str = LEARN, key: str | None = None) -> rules.PersonalAccount:
    key = key or f"{next(_serial):09d}"
    issuer = "https://learn.test/learn" if provider == LEARN else "https://pu.test/partner-university"
    return rules.PersonalAccount(provider=provider, issuer=issuer, subject=f"sub-{key}",
                                    email=f"person{key}@outlook.com", display_name=f"Person {key}",
                                    mcid=key if provider == LEARN else None)


def link(work_user: WorkUser, provider: str = LEARN, key: str | None = None):
    return linking_service.associate_account(work_user, personal_account(provider, key))


def entry(item_id: str, completed: date, kind: str = "certification", code: str | None = "AZ-104",
          level: str | None = "intermediate", title: str | None = None) -> services.TranscriptEntry:
    return services.TranscriptEntry(item_id, kind, code, title or f"Item {code or item_id}", level, completed)


def apply(transcripts: dict) -> services.RefreshResult:
    """Write provider transcripts (link -> entries) through the refresh's database step."""
    links = services.refreshable_links()
    return services.apply_transcripts(links, {l.id: transcripts.get(l.id, []) for l in links})


def delete_user(work_user: WorkUser) -> None:
    """Delete a work account the way an admin does: a Global admin of its organization."""
    admin = db.session.scalar(select(WorkUser).where(
        WorkUser.organization_id == work_user.organization_id, WorkUser.id != work_user.id,
        WorkUser.deleted_at.is_(None), WorkUser.roles.contains("global_admin")))
    services.delete_work_user(admin, work_user)


class QueryCounter:
    """Counts SQL statements sent to the database inside a ``with`` block."""

    def __init__(self):
        self.statements: list[str] = []

    def _count(self, conn, cursor, statement, *args):
        if not re.match(r"\s*(SAVEPOINT|RELEASE|ROLLBACK)", statement, re.I):
            self.statements.append(statement)

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.statements)

