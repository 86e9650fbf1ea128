"""Partner Center data: organizations, work users, and their linked learning accounts."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

LEARN = "learn"
PARTNER_UNIVERSITY = "partner-university"
PROVIDERS = (LEARN, PARTNER_UNIVERSITY)

ROLE_GLOBAL_ADMIN = "global_admin"
ROLE_ACCOUNT_ADMIN = "account_admin"
ROLE_PARTNER_ADMIN = "partner_admin"
ROLES = (ROLE_GLOBAL_ADMIN, ROLE_ACCOUNT_ADMIN, ROLE_PARTNER_ADMIN)

# Page languages (Flask-Babel locale codes); English is the source language.
LANGUAGES = ("en", "fr", "zh_Hant_TW")

END_REASON_REMOVED = "removed by user"
END_REASON_MOVED = "moved to another organization"
# The same individual linked the account to another work user of the same organization.
END_REASON_MOVED_USER = "moved to another work account"
END_REASON_USER_DELETED = "work account deleted"

# Bits of WorkUser.link_flags.
LINK_FLAG_LEARN = 1
LINK_FLAG_UNIVERSITY = 2

# Partial unique indexes: only *active* links (ended_at IS NULL) must be unique,
# history rows may repeat. SQLite and PostgreSQL both support them.
ACTIVE = text("ended_at IS NULL")


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    # "HH:MM" of the simulated clock for the scheduled data refresh; None: REFRESH_DAILY_AT.
    refresh_time: Mapped[Optional[str]] = mapped_column(String(5))

    users: Mapped[list["WorkUser"]] = relationship(back_populates="organization")


class WorkUser(UserMixin, db.Model):
    __tablename__ = "work_users"
    # One current account per email; a deleted one keeps its row (history, Skills report removal
    # date), so a rehire gets a new row with the same email.
    __table_args__ = (
        Index("uq_work_users_current_email", "email", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
        Index("ix_work_users_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(512))
    # Space-separated role names; an empty string is a plain user (who may still link).
    roles: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    deleted_at: Mapped[Optional[datetime]]
    # The latest password sign-in (None: never signed in), for the admins' follow-up of new users.
    last_signed_in_at: Mapped[Optional[datetime]]
    # Chosen with the language switcher; None follows the browser's Accept-Language.
    preferred_language: Mapped[Optional[str]] = mapped_column(String(16))
    # Part of every session's id: bumped (auth.service.end_sessions) at sign-out and demo reset, so
    # a copy of a cookie taken before then no longer signs anyone in.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The providers of the user's active links (LINK_FLAG_LEARN | LINK_FLAG_UNIVERSITY) and the
    # achievements on them, recounted in the transaction that changes them (webapp/user_summary.py):
    # the report pages count 100,000 users from an index instead of probing every user's links.
    link_flags: Mapped[int] = mapped_column(default=0, server_default="0")
    active_items: Mapped[int] = mapped_column(default=0, server_default="0")
    # The latest credit date of those achievements: Learn analytics finds the few users with
    # pending items from an index.
    last_credit_on: Mapped[Optional[date]]

    organization: Mapped[Organization] = relationship(back_populates="users")

    def has_role(self, *names: str) -> bool:
        mine = set(self.roles.split())
        return any(name in mine for name in names)

    @property
    def role_list(self) -> list[str]:
        return self.roles.split()

    def get_id(self) -> str:
        # The session names the row *and* its creation: after a demo reset an id can be given to
        # a new user, and a session of the user who had it must not sign in as the newcomer.
        # The session version ends every earlier session when it is bumped.
        return f"{self.id}:{self.created_at.isoformat()}:{self.session_version or 0}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of deleted users
        return self.deleted_at is None


class LearningIdentity(db.Model):
    """One individual at a provider: an MCID at Microsoft Learn, an account at Partner University.

    The association limits are per individual, so they are checked and bumped here;
    ``association_count`` is a compare-and-set counter that serialises concurrent
    completions for the same individual.
    """

    __tablename__ = "learning_identities"
    __table_args__ = (UniqueConstraint("provider", "identity_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    # MCID for Learn, "issuer|sub" for Partner University.
    identity_key: Mapped[str] = mapped_column(String(400))
    association_count: Mapped[int] = mapped_column(default=0)


class LinkedAccount(db.Model):
    """One association of a personal learning account with a work user, active or ended."""

    __tablename__ = "linked_accounts"
    __table_args__ = (
        Index("uq_active_link_per_user", "work_user_id", "provider", unique=True,
              sqlite_where=ACTIVE, postgresql_where=ACTIVE),
        Index("uq_active_link_per_subject", "issuer", "subject", unique=True,
              sqlite_where=ACTIVE, postgresql_where=ACTIVE),
        Index("uq_active_link_per_identity", "identity_id", unique=True,
              sqlite_where=ACTIVE, postgresql_where=ACTIVE),
        Index("ix_links_identity_linked_at", "identity_id", "linked_at"),
        Index("ix_links_org_active", "organization_id", "ended_at"),
        # My Learn profile: a user's newest links per provider, and their count, from the index.
        Index("ix_links_user_provider_linked", "work_user_id", "provider", "linked_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_user_id: Mapped[int] = mapped_column(ForeignKey("work_users.id"), index=True)
    # The organization at the time of the link: the MCID counts for this one.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    identity_id: Mapped[int] = mapped_column(ForeignKey("learning_identities.id"))
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    mcid: Mapped[Optional[str]] = mapped_column(String(32))
    linked_at: Mapped[datetime]
    ended_at: Mapped[Optional[datetime]]
    end_reason: Mapped[Optional[str]] = mapped_column(String(100))

    work_user: Mapped[WorkUser] = relationship()
    organization: Mapped[Organization] = relationship()
    identity: Mapped[LearningIdentity] = relationship()

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class LinkAttempt(db.Model):
    """The trace of one linking flow: every hop, every check, and the outcome."""

    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_user_id: Mapped[int] = mapped_column(ForeignKey("work_users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[Optional[datetime]]
    # pending | linked | cancelled | refused | failed | abandoned (pending past the state's lifetime)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    message: Mapped[Optional[str]] = mapped_column(Text)
    steps: Mapped[list] = mapped_column(JSON, default=list)

    work_user: Mapped[WorkUser] = relationship()


class AppSetting(db.Model):
    """Small key/value settings shared by every worker (e.g. the simulated clock offset)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class LoginFailureWindow(db.Model):
    """Failed sign-ins counted per key ("account:<email>" or "address:<ip>") in fixed windows.

    In the database so every worker process sees the same counts (Flask-Limiter's memory
    storage is per process); one row per key and window, bumped with an atomic UPDATE.
    """

    __tablename__ = "login_failure_windows"
    __table_args__ = (UniqueConstraint("key", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    window_start: Mapped[datetime] = mapped_column(index=True)
    failures: Mapped[int] = mapped_column(default=0)


# --------------------------------------------------------------------------- transcripts and credit

ACHIEVEMENT_KINDS = ("certification", "assessment", "training")
ACHIEVEMENT_LEVELS = ("intermediate", "advanced")


class Achievement(db.Model):
    """A completed transcript item pulled from a provider for one link (the data refresh).

    ``credit_on`` is stored, not computed per query, so the reports can filter on it with an
    index: it is fixed once the link's start and the completion date are known.
    """

    __tablename__ = "achievements"
    __table_args__ = (
        UniqueConstraint("link_id", "item_id", name="uq_achievement_per_link_item"),
        Index("ix_achievements_user", "work_user_id"),
        # The Skills report CSV reads an organization's achievements in (user, link) order.
        Index("ix_achievements_org_user_link", "organization_id", "work_user_id", "link_id", "completed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_user_id: Mapped[int] = mapped_column(ForeignKey("work_users.id"))
    link_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    # The organization the link credits (the link's organization, denormalized for reports).
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    provider: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(100))  # the provider's transcript item id
    kind: Mapped[str] = mapped_column(String(20))  # certification | assessment | training
    code: Mapped[Optional[str]] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(255))
    level: Mapped[Optional[str]] = mapped_column(String(20))  # intermediate | advanced | None
    completed_on: Mapped[date]
    credit_on: Mapped[date]
    changed_at: Mapped[datetime]  # last time a refresh added or changed this row

    link: Mapped[LinkedAccount] = relationship()
    work_user: Mapped[WorkUser] = relationship()


REFRESH_QUEUED = "queued"
REFRESH_RUNNING = "running"
REFRESH_DONE = "done"
REFRESH_FAILED = "failed"
REFRESH_ACTIVE = text("status IN ('queued', 'running')")


class RefreshJob(db.Model):
    """One data refresh of an organization (or of one learner's links), queued by an admin, the
    schedule or a learner, run by a worker (``flask refresh-worker`` / ``refresh-due``).

    The row is the progress the Reports page shows, so it survives a reload and is the same for
    every web worker; the partial unique index allows one queued or running organization refresh
    per organization.
    """

    __tablename__ = "refresh_jobs"
    __table_args__ = (
        Index("uq_refresh_job_active_org", "organization_id", unique=True,
              sqlite_where=text("status IN ('queued', 'running') AND work_user_id IS NULL"),
              postgresql_where=text("status IN ('queued', 'running') AND work_user_id IS NULL")),
        Index("ix_refresh_jobs_status", "status", "id"),
        Index("ix_refresh_jobs_org_id", "organization_id", "id"),
        Index("ix_refresh_jobs_user_requested", "work_user_id", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # Set for a learner's refresh of their own links.
    work_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("work_users.id"))
    trigger: Mapped[str] = mapped_column(String(20))  # admin | schedule | operator | learner | cli
    status: Mapped[str] = mapped_column(String(10), default=REFRESH_QUEUED)
    requested_at: Mapped[datetime]  # real time (the worker's lease and the rate limit)
    started_at: Mapped[Optional[datetime]]
    heartbeat_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    users_total: Mapped[int] = mapped_column(default=0)
    users_done: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    links_checked: Mapped[int] = mapped_column(default=0)
    # Providers whose transcripts could not be read ("learn partner-university"): nothing of theirs changed.
    failed_providers: Mapped[str] = mapped_column(String(100), default="")
    message: Mapped[Optional[str]] = mapped_column(Text)  # the failures, for people


class RefreshStagedItem(db.Model):
    """A transcript item read by a running refresh, kept until its provider's pages are all read;
    then merged into ``achievements`` in one transaction (or dropped if the provider failed)."""

    __tablename__ = "refresh_staged_items"
    __table_args__ = (
        UniqueConstraint("job_id", "link_id", "item_id", name="uq_staged_item"),
        Index("ix_staged_job_provider", "job_id", "provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("refresh_jobs.id"))
    provider: Mapped[str] = mapped_column(String(32))
    link_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id"))
    item_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[Optional[str]] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(255))
    level: Mapped[Optional[str]] = mapped_column(String(20))
    completed_on: Mapped[date]
    credit_on: Mapped[date]


# Report pages list an organization's users by email; deleted users are filtered by date.
Index("ix_work_users_org_email", WorkUser.organization_id, WorkUser.email)
Index("ix_work_users_org_deleted", WorkUser.organization_id, WorkUser.deleted_at)
Index("ix_links_org_user", LinkedAccount.organization_id, LinkedAccount.work_user_id)
# Counts by link status and the linked users' pages, read from the index alone.
Index("ix_work_users_org_deleted_links", WorkUser.organization_id, WorkUser.deleted_at, WorkUser.link_flags,
      WorkUser.active_items)
Index("ix_work_users_org_deleted_credit", WorkUser.organization_id, WorkUser.deleted_at, WorkUser.last_credit_on)
Index("ix_work_users_org_email_links", WorkUser.organization_id, WorkUser.email, WorkUser.deleted_at,
      WorkUser.link_flags)



# --------------------------------------------------------------------------- audit log

class AuditEvent(db.Model):
    """One line of the append-only audit log: who did what, when, from which address.

    Written in the same transaction as the change it records (services.record_audit).
    The app has no route that edits or deletes it; the ORM refuses updates and deletes,
    and database triggers refuse them too (see below).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)  # real UTC time
    clock_at: Mapped[datetime]  # the app's (possibly simulated) clock at that moment
    # Whose log the event belongs to: the Global admin of this organization sees it.
    # Plain ids, no foreign keys: the log outlives what it describes (deleted users, and the
    # demo reset, which empties every other table and keeps this one).
    organization_id: Mapped[Optional[int]] = mapped_column(index=True)
    actor_id: Mapped[Optional[int]]
    actor_email: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(400), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_change(mapper, connection, target):
    raise AuditLogIsAppendOnly("The audit log is append-only.")


# The same rule in the database, for anything that bypasses the ORM.
_AUDIT_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}


def install_audit_triggers(connection) -> None:
    for statement in _AUDIT_TRIGGERS.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


@event.listens_for(AuditEvent.__table__, "after_create")
def _audit_triggers_after_create(table, connection, **kw):
    install_audit_triggers(connection)
