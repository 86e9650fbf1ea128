"""The trainer's one-step return to the seeded demo state (the webapp's tables, then the providers')."""
from __future__ import annotations

from flask import current_app, g
from sqlalchemy import text
from sqlalchemy.orm import Session

from ..audit.service import AUDIT_DEMO_RESET, record_audit
from ..extensions import db
from ..models import AuditEvent, WorkUser
from ..provider_control import ProviderCall, call_control_api
from ..skilling_summary import SkillingMetric
from .seed import seed_demo


def reset_demo_data(actor: WorkUser | None = None, address: str = "") -> dict:
    """Empty every webapp table (clock offset included) and seed the demo again, in ONE transaction.

    Either all of it is committed or nothing is: the seeding code commits as it goes, so the
    session is joined to an outer transaction on one connection (SQLAlchemy's "join a Session
    into an external transaction") whose commits do not end it; only the final commit does.
    ``actor`` is the operator who pressed the button (None: the CLI); only their email is kept,
    since their row is among those deleted. Identifiers restart too, so the seeded users get
    the ids they had after the first seed.
    """
    actor_email = actor.email if actor is not None else ""
    # The audit log is append-only: it survives the reset, which it records. The list of Skilling
    # metrics whose counts are kept is set up with the schema, not seeded: it stays too.
    kept = (AuditEvent.__tablename__, SkillingMetric.__tablename__)
    tables = [t for t in db.metadata.sorted_tables if t.name not in kept]
    # End the request's own transaction first: on PostgreSQL its read locks would make the
    # TRUNCATE below wait for ever on this very request.
    db.session.remove()
    with db.engine.connect() as connection:
        outer = connection.begin()
        db.session.registry.set(Session(bind=connection, join_transaction_mode="rollback_only"))
        try:
            _empty_tables(tables, connection.dialect)  # first: a write opens SQLite's transaction
            g.pop("clock_offset", None)  # the offset row is gone: the clock is real time again
            created = seed_demo()
            record_audit(AUDIT_DEMO_RESET, organization_id=None, target="demo data",
                         actor_email=actor_email, address=address)
            db.session.flush()
            if not outer.is_active:  # something in the seed rolled the whole reset back
                raise RuntimeError("the demo reset transaction was rolled back")
            outer.commit()
        except BaseException:
            if outer.is_active:
                outer.rollback()
            raise
        finally:
            db.session.remove()
            g.pop("clock_offset", None)
    current_app.extensions.pop("learnlink_trace_purge", None)
    return created


def _empty_tables(tables, dialect) -> None:
    if dialect.name == "postgresql":
        names = ", ".join(dialect.identifier_preparer.format_table(t) for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in reversed(tables):
        db.session.execute(table.delete())
    if dialect.name == "sqlite" and db.session.execute(text(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
        db.session.execute(text(
            "DELETE FROM sqlite_sequence WHERE name != :kept"), {"kept": AuditEvent.__tablename__})


def reset_providers() -> ProviderCall:
    """Ask the providers' QA control API to go back to their demo accounts (and real time)."""
    return call_control_api("POST", "/qa/reset")
