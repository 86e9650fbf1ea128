"""Partner Center's rules, as plain functions the routes call.

Everything here works on the database session and takes no request objects,
so the rules can be exercised directly by tests.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app, g, has_app_context
from flask_babel import gettext as _
from sqlalchemy import String, and_, bindparam, case, cast, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from .clock import now, real_now, today
from .extensions import db
from .linking import oidc
from .linking.backchannel import BackChannelLimit, BackChannelSession, refresh_limit_message
from .linking.rules import provider_label
from .models import (
    ACHIEVEMENT_KINDS,
    ACHIEVEMENT_LEVELS,
    END_REASON_USER_DELETED,
    LEARN,
    PARTNER_UNIVERSITY,
    ROLE_ACCOUNT_ADMIN,
    ROLE_GLOBAL_ADMIN,
    ROLE_PARTNER_ADMIN,
    ROLES,
    Achievement,
    AppSetting,
    AuditEvent,
    LinkedAccount,
    Organization,
    WorkUser,
)
from .validation import ValidationError


# --------------------------------------------------------------------------- demo reset
# (the trainer's one-step return to the seeded demo state.)

def reset_demo_data(actor: WorkUser | None = None, address: str = "") -> dict:
    """Empty every webapp table (clock offset included) and seed the demo again, in ONE transaction.

    Either all of it is committed or nothing is: the seeding code commits as it goes, so the
    session is joined to an outer transaction on one connection (SQLAlchemy's "join a Session
    into an external transaction") whose commits do not end it; only the final commit does.
    ``actor`` is the operator who pressed the button (None: the CLI); only their email is kept,
    since their row is among those deleted. Identifiers restart too, so the seeded users get
    the ids they had after the first seed.
    """
    from sqlalchemy.orm import Session

    from .demo import seed_demo

    actor_email = actor.email if actor is not None else ""
    # The audit log is append-only: it survives the reset, which it records.
    tables = [t for t in db.metadata.sorted_tables if t.name != AuditEvent.__tablename__]
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


@dataclass
class ProviderReset:
    done: bool
    detail: str  # "reset", "not_configured", or what went wrong (no secrets)


def reset_providers() -> ProviderReset:
    """Ask the providers' QA control API to go back to their demo accounts."""
    import requests  # only this call needs it

    token = current_app.config.get("IDP_CONTROL_TOKEN")
    if not token:
        return ProviderReset(False, "not_configured")
    url = current_app.config["IDP_CONTROL_URL"].rstrip("/") + "/qa/reset"
    try:
        response = requests.post(url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=current_app.config["OIDC_HTTP_TIMEOUT"])
    except requests.RequestException as exc:
        return ProviderReset(False, type(exc).__name__)
    if response.status_code != 200:
        return ProviderReset(False, f"HTTP {response.status_code}")
    return ProviderReset(True, "reset")


# --------------------------------------------------------------------------- installation operator
# (the trainer / QA lead: the clock, the demo reset and the all-organization data refresh act on
# the whole installation, so they belong to no organization's admin. Named by configuration,
# LEARNLINK_OPERATORS: a database flag would not survive the demo reset it is needed for.)

def is_operator(user) -> bool:
    """True for an active work user whose email is in the OPERATORS configuration."""
    if user is None or not getattr(user, "is_authenticated", False) or user.deleted_at is not None:
        return False
    return user.email in current_app.config.get("OPERATORS", ())


# --------------------------------------------------------------------------- user administration
# (Global admin / Account admin: create and delete work users; roles; privacy.)
# Privacy: no function here links or unlinks a learning account. Only the signed-in work user
# starts, completes (associate_account via their own callback) or removes (remove_link) a link.

USER_ADMIN_ROLES = (ROLE_GLOBAL_ADMIN, ROLE_ACCOUNT_ADMIN)


class NotPermitted(Exception):
    """The signed-in user's roles do not allow this action; the message is shown as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def can_administer_users(actor: WorkUser | None) -> bool:
    return actor is not None and actor.deleted_at is None and actor.has_role(*USER_ADMIN_ROLES)


def assignable_roles(actor: WorkUser) -> tuple[str, ...]:
    """Roles this admin may give: only a Global admin makes another Global admin."""
    if actor.has_role(ROLE_GLOBAL_ADMIN):
        return ROLES
    return tuple(r for r in ROLES if r != ROLE_GLOBAL_ADMIN)


def _require_user_admin(actor: WorkUser) -> None:
    if not can_administer_users(actor):
        raise NotPermitted(_("Only a Global admin or an Account admin of your organization "
                             "can manage work users."))


def organization_users(actor: WorkUser, page: int = 1, per_page: int | None = None) -> "ReportPage":
    """One page of the work users of the admin's own organization, active first, then deleted.

    Paginated: organizations have tens of thousands of users, and the page must not load them all.
    """
    _require_user_admin(actor)
    per_page = per_page or REPORT_PAGE_SIZE
    in_org = WorkUser.organization_id == actor.organization_id
    total = db.session.scalar(select(func.count()).select_from(WorkUser).where(in_org)) or 0
    page = _page_number(page, total, per_page)
    users = list(db.session.scalars(
        select(WorkUser).where(in_org)
        .order_by(WorkUser.deleted_at.is_not(None), WorkUser.email)
        .limit(per_page).offset((page - 1) * per_page)
    ))
    return ReportPage(users, page, per_page, total)


def organization_user(actor: WorkUser, user_id: int) -> WorkUser | None:
    """A work user of the admin's own organization by id; None for any other id."""
    _require_user_admin(actor)
    return db.session.scalar(select(WorkUser).where(
        WorkUser.id == user_id, WorkUser.organization_id == actor.organization_id))


def add_work_user(actor: WorkUser, email: str, display_name: str, password: str,
                  roles: list[str] | tuple[str, ...] = ()) -> WorkUser:
    """An admin creates a work user in their own organization (see create_work_user)."""
    _require_user_admin(actor)
    refused = [r for r in roles if r in ROLES and r not in assignable_roles(actor)]
    if refused:
        raise ValidationError(_("Only a Global admin can give the Global admin role."), "roles")
    from .users import create_work_user  # users records its audit event through this module

    return create_work_user(actor.organization, email, display_name, password, roles, actor=actor)


def delete_work_user(actor: WorkUser, user: WorkUser) -> WorkUser:
    """Delete a work account: it can no longer sign in and its sessions end at once.

    The row and its links stay as they are (history); the Skills report drops the user at its
    next refresh date (the 10th of the following month).
    """
    _require_user_admin(actor)
    if user.id == actor.id:
        raise ValidationError(_("You cannot delete your own work account."))
    if user.organization_id != actor.organization_id:
        raise ValidationError(_("You can only delete work users of your own organization."))
    if user.deleted_at is not None:
        raise ValidationError(_("The work account %(email)s is already deleted.", email=user.email))
    if user.has_role(ROLE_GLOBAL_ADMIN) and not actor.has_role(ROLE_GLOBAL_ADMIN):
        raise ValidationError(_("Only a Global admin can delete a Global admin."))
    user.deleted_at = now()
    record_audit(AUDIT_USER_DELETED, organization_id=user.organization_id, actor=actor,
                 target=user.email, detail={"roles": user.role_list})
    db.session.commit()
    return user


# --------------------------------------------------------------------------- transcripts and credit
# (data refresh from the providers' transcript API; ten-day credit rule.)

# The seeds: "your organization will get credit within ten days of completion", and "it usually
# takes around ten days once you have done the linkage or completed a fresh certification".
# So an item counts ten days after the later of its completion and the link's start.
CREDIT_DELAY = timedelta(days=10)
TRANSCRIPT_SCOPE = "transcript.read"
LAST_REFRESH_KEY = "transcripts_refreshed_at"
STATUS_CREDITED = "credited"
STATUS_PENDING = "pending"


def credit_date(completed_on: date, linked_at: datetime | date) -> date:
    """The first day an achievement counts for the organization of its link."""
    link_day = linked_at.date() if isinstance(linked_at, datetime) else linked_at
    return max(completed_on, link_day) + CREDIT_DELAY


def credit_status(credit_on: date, on: date | None = None) -> str:
    """credited from ``credit_on`` (inclusive), pending before it."""
    return STATUS_CREDITED if credit_on <= (on or today()) else STATUS_PENDING


class RefreshError(Exception):
    """The refresh could not read every transcript; nothing was written. ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One transcript item as a provider reported it, checked."""

    item_id: str
    kind: str
    code: str | None
    title: str
    level: str | None
    completed_on: date


@dataclass
class UserChanges:
    work_user_id: int
    email: str = ""
    display_name: str = ""
    added: int = 0
    updated: int = 0
    removed: int = 0


@dataclass
class RefreshResult:
    links_checked: int
    per_user: dict[int, UserChanges]
    refreshed_at: datetime

    @property
    def added(self) -> int:
        return sum(c.added for c in self.per_user.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.per_user.values())

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.per_user.values())

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        if not self.changed:
            return _("Data refreshed from %(count)d linked accounts: no changes.", count=self.links_checked)
        return _("Data refreshed from %(count)d linked accounts: %(added)d added, %(updated)d updated, "
                 "%(removed)d removed, for %(users)d users.", count=self.links_checked, added=self.added,
                 updated=self.updated, removed=self.removed, users=len(self.per_user))

    def user_lines(self) -> list[str]:
        return [_("%(email)s: %(added)d added, %(updated)d updated, %(removed)d removed.",
                  email=c.email, added=c.added, updated=c.updated, removed=c.removed)
                for c in sorted(self.per_user.values(), key=lambda c: c.email)]


def parse_transcript_item(raw) -> TranscriptEntry:
    """Check one item of the transcript API; ValueError when it is not what the API promises."""
    if not isinstance(raw, dict):
        raise ValueError("item is not an object")
    item_id, kind, title = raw.get("id"), raw.get("kind"), raw.get("title")
    code, level = raw.get("code") or None, raw.get("level") or None
    if not isinstance(item_id, str) or not item_id or len(item_id) > 100:
        raise ValueError("bad id")
    if kind not in ACHIEVEMENT_KINDS:
        raise ValueError("bad kind")
    if level is not None and level not in ACHIEVEMENT_LEVELS:
        raise ValueError("bad level")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("bad title")
    if code is not None and (not isinstance(code, str) or len(code) > 40):
        raise ValueError("bad code")
    completed_on = date.fromisoformat(str(raw.get("completed_at")))
    return TranscriptEntry(item_id, kind, code, title.strip()[:255], level, completed_on)


def refreshable_links(on: date | None = None, organization_id: int | None = None) -> list[LinkedAccount]:
    """Every link whose achievements belong in a report today (active ones, deleted users' until
    removal): of one organization, or of all when ``organization_id`` is None."""
    on = on or today()
    stmt = (select(LinkedAccount).join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
            .where(reportable_link_clause(on)).order_by(LinkedAccount.id))
    if organization_id is not None:
        stmt = stmt.where(LinkedAccount.organization_id == organization_id)
    return list(db.session.scalars(stmt))


def fetch_transcripts(links: list[LinkedAccount]) -> dict[int, list[TranscriptEntry]]:
    """GET every link's transcript from its provider (client_credentials token, scope transcript.read).

    Raises RefreshError on the first provider failure: the caller then writes nothing.
    """
    timeout = current_app.config["OIDC_HTTP_TIMEOUT"]
    by_provider: dict[str, list[LinkedAccount]] = {}
    for link in links:
        by_provider.setdefault(link.provider, []).append(link)
    fetched: dict[int, list[TranscriptEntry]] = {}
    for provider, provider_links in by_provider.items():
        label = provider_label(provider)
        failed = _("Could not read the transcripts from %(provider)s. Nothing was changed; "
                   "try again in a moment.", provider=label)
        try:
            metadata = oidc.load_metadata(provider, oidc.Trace())
        except oidc.FlowError as exc:
            raise RefreshError(failed if exc.transient else exc.message)
        rp = oidc.client_for(provider)
        transcript_url = metadata["issuer"].rstrip("/") + "/api/transcript"
        with BackChannelSession(rp.client_id, rp.client_secret, scope=TRANSCRIPT_SCOPE,
                                token_endpoint_auth_method="client_secret_basic",
                                default_timeout=timeout) as http:
            try:
                http.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
            except BackChannelLimit as exc:
                raise RefreshError(refresh_limit_message(label, exc))
            except OAuthError as exc:
                current_app.logger.warning("transcript token refused by %s: %s", provider, exc.error)
                raise RefreshError(_("%(provider)s refused Partner Center's transcript access "
                                     "(%(error)s). Nothing was changed; check the client "
                                     "configuration.", provider=label, error=exc.error))
            except (requests.RequestException, ValueError):
                raise RefreshError(failed)
            for link in provider_links:
                try:
                    response = http.get(transcript_url, params={"sub": link.subject})
                    if response.status_code == 404:
                        # The personal account no longer exists at the provider: nothing to credit.
                        fetched[link.id] = []
                        continue
                    response.raise_for_status()
                    payload = response.json()
                    if payload.get("sub") != link.subject:
                        raise ValueError("transcript of another account")
                    fetched[link.id] = [parse_transcript_item(raw) for raw in payload.get("items") or []]
                except BackChannelLimit as exc:
                    raise RefreshError(refresh_limit_message(label, exc))
                except (requests.RequestException, ValueError, AttributeError, TypeError):
                    current_app.logger.warning("transcript of link %s at %s unreadable", link.id, provider)
                    raise RefreshError(failed)
    return fetched


def apply_transcripts(links: list[LinkedAccount], fetched: dict[int, list[TranscriptEntry]],
                      on: date | None = None, organization_id: int | None = None) -> RefreshResult:
    """Upsert the fetched transcripts and drop achievements no report needs, in one transaction.

    ``links`` are the refreshed links; achievements of any other link (removed, moved, or of a
    user deleted before the last removal date) are deleted and counted as removed; with an
    ``organization_id``, only that organization's achievements are looked at.
    """
    on = on or today()
    current = now()
    changes: dict[int, UserChanges] = {}

    def bump(user_id: int, what: str) -> None:
        entry = changes.setdefault(user_id, UserChanges(user_id))
        setattr(entry, what, getattr(entry, what) + 1)

    try:
        keep_ids = select(LinkedAccount.id).join(WorkUser, WorkUser.id == LinkedAccount.work_user_id) \
            .where(reportable_link_clause(on))
        stale = ~Achievement.link_id.in_(keep_ids)
        if organization_id is not None:
            stale = and_(stale, Achievement.organization_id == organization_id)
        for user_id, count in db.session.execute(
                select(Achievement.work_user_id, func.count()).where(stale)
                .group_by(Achievement.work_user_id)):
            changes.setdefault(user_id, UserChanges(user_id)).removed += count
        db.session.execute(delete(Achievement).where(stale).execution_options(synchronize_session=False))

        for start in range(0, len(links), 500):
            chunk = links[start:start + 500]
            existing: dict[tuple[int, str], Achievement] = {
                (a.link_id, a.item_id): a for a in db.session.scalars(
                    select(Achievement).where(Achievement.link_id.in_([l.id for l in chunk])))}
            for link in chunk:
                seen = set()
                for entry in fetched.get(link.id, []):
                    if entry.item_id in seen:
                        continue
                    seen.add(entry.item_id)
                    values = {"kind": entry.kind, "code": entry.code, "title": entry.title,
                              "level": entry.level, "completed_on": entry.completed_on,
                              "credit_on": credit_date(entry.completed_on, link.linked_at)}
                    row = existing.pop((link.id, entry.item_id), None)
                    if row is None:
                        db.session.add(Achievement(
                            work_user_id=link.work_user_id, link_id=link.id,
                            organization_id=link.organization_id, provider=link.provider,
                            item_id=entry.item_id, changed_at=current, **values))
                        bump(link.work_user_id, "added")
                    elif any(getattr(row, k) != v for k, v in values.items()):
                        for k, v in values.items():
                            setattr(row, k, v)
                        row.changed_at = current
                        bump(link.work_user_id, "updated")
            for row in existing.values():  # no longer on the provider's transcript
                db.session.delete(row)
                bump(row.work_user_id, "removed")

        if changes:
            for user in db.session.scalars(select(WorkUser).where(WorkUser.id.in_(list(changes)))):
                changes[user.id].email, changes[user.id].display_name = user.email, user.display_name
        key = _last_refresh_key(organization_id)
        setting = db.session.get(AppSetting, key)
        if setting is None:
            db.session.add(AppSetting(key=key, value=current.isoformat(timespec="seconds")))
        else:
            setting.value = current.isoformat(timespec="seconds")
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RefreshError(_("Another data refresh was running at the same time. Nothing was changed "
                             "by this one; try again in a moment."))
    except Exception:
        db.session.rollback()
        raise
    return RefreshResult(len(links), changes, current)


def refresh_transcripts(organization_id: int | None = None) -> RefreshResult:
    """The data refresh: read every reportable link's transcript, then write all changes at once.

    An organization's admin refreshes their organization (``organization_id``); None refreshes
    every organization, which only the installation operator (or the CLI) does.
    """
    on = today()
    links = refreshable_links(on, organization_id)
    fetched = fetch_transcripts(links)  # network first: a failure leaves the database untouched
    return apply_transcripts(links, fetched, on, organization_id)


def _last_refresh_key(organization_id: int | None) -> str:
    return LAST_REFRESH_KEY if organization_id is None else f"{LAST_REFRESH_KEY}:{organization_id}"


def last_refresh(organization_id: int | None = None) -> datetime | None:
    """When the organization's data (or, with None, every organization's) was last refreshed."""
    keys = {LAST_REFRESH_KEY, _last_refresh_key(organization_id)}
    values = [datetime.fromisoformat(v) for v in db.session.scalars(
        select(AppSetting.value).where(AppSetting.key.in_(keys)))]
    return max(values) if values else None


@dataclass
class AchievementView:
    provider: str
    kind: str
    code: str | None
    title: str
    level: str | None
    completed_on: date
    credit_on: date
    status: str


def user_achievements(work_user: WorkUser, on: date | None = None) -> list[AchievementView]:
    """The user's achievements on their active links, with credited/pending status (My Learn profile)."""
    on = on or today()
    rows = db.session.execute(_user_achievements_stmt(), {"work_user_id": work_user.id})
    return [AchievementView(*row, credit_status(row.credit_on, on)) for row in rows]



@cache
def _user_achievements_stmt():
    # Plain rows in AchievementView's order: the page needs no ORM objects.
    return (select(Achievement.provider, Achievement.kind, Achievement.code, Achievement.title,
                   Achievement.level, Achievement.completed_on, Achievement.credit_on)
            .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
            .where(Achievement.work_user_id == bindparam("work_user_id"), LinkedAccount.ended_at.is_(None))
            .order_by(Achievement.completed_on.desc(), Achievement.id))


# --------------------------------------------------------------------------- reports
# (Skills report, deleted users' refresh date, Learn analytics, skilling points.)

# The seeds: "Once deleted, their exams will be removed from the Skills Report on the data refresh
# date that is around the 10th of the following month ... The changes will be reflected on the
# Skills Report after February 10." We read "after February 10" literally: a user deleted in
# January is still listed on February 10 and gone from February 11.
REMOVAL_DAY = 10
REPORTED_KINDS = ("certification", "assessment")
REPORT_PAGE_SIZE = 50
SKILLING_POINTS_FILE = Path(__file__).resolve().parent / "data" / "skilling_points.json"
SKILLING_LEVELS = ("intermediate", "advanced")


def skills_report_removal_date(deleted_at: datetime | date) -> date:
    """The last day a deleted user's exams are listed: the 10th of the month after the deletion."""
    day = deleted_at.date() if isinstance(deleted_at, datetime) else deleted_at
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, REMOVAL_DAY)


def skills_report_cutoff(on: date) -> datetime:
    """Users deleted at or after this moment are still listed on ``on``.

    The same rule as skills_report_removal_date, as a bound a query can use with an index.
    """
    if on.day <= REMOVAL_DAY:  # still inside the previous month's grace period
        year, month = (on.year - 1, 12) if on.month == 1 else (on.year, on.month - 1)
        return datetime(year, month, 1)
    return datetime(on.year, on.month, 1)


def reportable_link_clause(on: date):
    """Links whose achievements a report shows on ``on`` (query must join WorkUser).

    Active links of current users, and the links a deleted user had when deleted, until the
    removal date.
    """
    return or_(
        and_(LinkedAccount.ended_at.is_(None), WorkUser.deleted_at.is_(None)),
        and_(WorkUser.deleted_at >= skills_report_cutoff(on),
             or_(LinkedAccount.ended_at.is_(None), LinkedAccount.end_reason == END_REASON_USER_DELETED)),
    )


def can_view_reports(user: WorkUser) -> bool:
    """The seeds: any Global admin or (MPN) Partner admin can view and download the Skills report."""
    return user.is_authenticated and user.deleted_at is None and user.has_role(
        ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN)


@dataclass
class ReportPage:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _page_number(page: int | None, total: int, per_page: int) -> int:
    pages = max(1, -(-total // per_page))
    return min(max(1, page or 1), pages)


def _skills_rows_select(organization_id: int, on: date):
    credited = and_(Achievement.link_id == LinkedAccount.id, Achievement.credit_on <= on,
                    Achievement.kind.in_(REPORTED_KINDS))
    return (
        select(WorkUser.id.label("user_id"), WorkUser.email, WorkUser.display_name, WorkUser.deleted_at,
               LinkedAccount.provider, LinkedAccount.mcid, LinkedAccount.email.label("account_email"),
               Achievement.kind, Achievement.code, Achievement.title, Achievement.level,
               Achievement.completed_on, Achievement.credit_on)
        .select_from(WorkUser)
        .join(LinkedAccount, LinkedAccount.work_user_id == WorkUser.id)
        .outerjoin(Achievement, credited)
        .where(WorkUser.organization_id == organization_id,
               LinkedAccount.organization_id == organization_id, reportable_link_clause(on))
    )


@dataclass
class SkillsReportUser:
    user_id: int
    email: str
    display_name: str
    deleted_at: datetime | None
    removal_date: date | None
    mcid: str | None = None
    accounts: list = field(default_factory=list)  # (provider, account email)
    achievements: list = field(default_factory=list)  # rows


def skills_report_page(organization_id: int, page: int = 1, per_page: int = REPORT_PAGE_SIZE,
                       on: date | None = None) -> ReportPage:
    """Linked users (with deleted ones until their removal date) and their credited exams.

    Three queries whatever the page size: count, the page's users, their rows.
    """
    on = on or today()
    linked_users = (select(WorkUser.id, WorkUser.email)
                    .join(LinkedAccount, LinkedAccount.work_user_id == WorkUser.id)
                    .where(WorkUser.organization_id == organization_id,
                           LinkedAccount.organization_id == organization_id, reportable_link_clause(on))
                    .distinct())
    total = db.session.scalar(select(func.count()).select_from(linked_users.subquery())) or 0
    page = _page_number(page, total, per_page)
    page_users = linked_users.subquery()
    user_ids = list(db.session.scalars(
        select(page_users.c.id).order_by(page_users.c.email).limit(per_page).offset((page - 1) * per_page)))
    users: dict[int, SkillsReportUser] = {}
    if user_ids:
        rows = db.session.execute(
            _skills_rows_select(organization_id, on).where(WorkUser.id.in_(user_ids))
            .order_by(WorkUser.email, LinkedAccount.provider, Achievement.completed_on, Achievement.id))
        for row in rows:
            user = users.get(row.user_id)
            if user is None:
                user = users[row.user_id] = SkillsReportUser(
                    row.user_id, row.email, row.display_name, row.deleted_at,
                    skills_report_removal_date(row.deleted_at) if row.deleted_at else None)
            account = (row.provider, row.account_email)
            if account not in user.accounts:
                user.accounts.append(account)
            if row.mcid:
                user.mcid = row.mcid
            if row.kind is not None:
                user.achievements.append(row)
    return ReportPage([users[i] for i in user_ids if i in users], page, per_page, total)


def skills_report_csv_header() -> list[str]:
    return [_("Work email"), _("Name"), _("Organization"), _("Partner ID"), _("Source"), _("MCID"),
            _("Learning account"), _("Type"), _("Code"), _("Title"), _("Level"), _("Completed on"),
            _("Credited on"), _("Account status"), _("Listed until")]


_CSV_QUOTE_NEEDED = re.compile(r'[,"\r\n]')
_FORMULA_STARTS = frozenset("=+-@\t\r")


def _csv_field(value) -> str:
    """One CSV cell (RFC 4180 quoting), safe to open in a spreadsheet."""
    if value is None:
        return ""
    text = str(value)
    if text[:1] in _FORMULA_STARTS:  # formula injection: shown as text
        text = "'" + text
    if _CSV_QUOTE_NEEDED.search(text):
        text = '"' + text.replace('"', '""') + '"'
    return text


def _csv_line(values) -> str:
    return ",".join(_csv_field(v) for v in values)


def _streamed_rows(statement, batch: int):
    """Rows of ``statement`` straight from the DBAPI cursor, ``batch`` at a time, server-side.

    The Skills report CSV reads hundreds of thousands of rows; building SQLAlchemy Row objects
    for them would cost as much as the query itself, so the statement (its values rendered as
    escaped literals by SQLAlchemy) runs on the session's own connection and transaction through
    a plain cursor, or on PostgreSQL a named (server-side) one.
    """
    connection = db.session.connection()
    dialect = connection.dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.paramstyle in ("pyformat", "format"):
        sql = sql.replace("%%", "%")  # executed without parameters: no placeholder escaping
    dbapi_connection = connection.connection.dbapi_connection
    if dialect.name == "postgresql":
        cursor = dbapi_connection.cursor(name="skills_report_csv")
    else:
        cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()


def skills_report_csv(organization: Organization, on: date | None = None, batch: int = 5000):
    """The Skills report as CSV text chunks: one line per credited certification or assessment,
    and one line for a linked user with none. Flat memory whatever the size.

    One query, in (work user, link, completion) order: the order of the links index, so the
    database only sorts each link's few achievements. A link's cells are encoded once for all
    its lines, an item's (type, code, title, level) once for the whole report.
    """
    on = on or today()
    providers = {LEARN: provider_label(LEARN), PARTNER_UNIVERSITY: provider_label(PARTNER_UNIVERSITY)}
    kinds = {"certification": _("Certification"), "assessment": _("Assessment")}
    levels = {"intermediate": _("Intermediate"), "advanced": _("Advanced")}
    active = _csv_field(_("Active")) + ","
    deleted = _csv_field(_("Deleted")) + ","
    organization_cells = (_csv_field(organization.name), _csv_field(organization.partner_id))
    no_achievement = _csv_line([""] * 6)
    credited = and_(Achievement.link_id == LinkedAccount.id, Achievement.credit_on <= on,
                    Achievement.kind.in_(REPORTED_KINDS))
    statement = (
        select(LinkedAccount.id, WorkUser.email, WorkUser.display_name, LinkedAccount.provider,
               LinkedAccount.mcid, LinkedAccount.email, cast(WorkUser.deleted_at, String),
               Achievement.kind, Achievement.code, Achievement.title, Achievement.level,
               cast(Achievement.completed_on, String), cast(Achievement.credit_on, String))
        .select_from(LinkedAccount)
        .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
        .outerjoin(Achievement, credited)
        .where(LinkedAccount.organization_id == organization.id, WorkUser.organization_id == organization.id,
               reportable_link_clause(on))
        .order_by(LinkedAccount.work_user_id, LinkedAccount.id, Achievement.completed_on, Achievement.id))

    items: dict[tuple, str] = {}
    current_link, prefix, status = None, "", active
    yield _csv_line(skills_report_csv_header()) + "\r\n"
    for rows in _streamed_rows(statement, batch):
        lines = []
        for (link_id, email, name, provider, mcid, account_email, deleted_at,
             kind, code, title, level, completed_on, credit_on) in rows:
            if link_id != current_link:
                current_link = link_id
                prefix = ",".join((_csv_field(email), _csv_field(name), *organization_cells,
                                   _csv_field(providers.get(provider, provider)), _csv_field(mcid),
                                   _csv_field(account_email), ""))
                status = active if deleted_at is None else deleted + skills_report_removal_date(
                    date.fromisoformat(deleted_at[:10])).isoformat()
            if kind is None:  # a linked user without any credited exam
                lines.append(f"{prefix}{no_achievement},{status}\r\n")
                continue
            key = (kind, code, title, level)
            item = items.get(key)
            if item is None:
                if len(items) > 10_000:  # a catalog this large would not repeat much anyway
                    items.clear()
                item = items[key] = _csv_line([kinds.get(kind, kind), code, title, levels.get(level, "")])
            # Dates come as YYYY-MM-DD text (CAST in the query): nothing to format.
            lines.append(f"{prefix}{item},{completed_on[:10]},{credit_on[:10]},{status}\r\n")
        yield "".join(lines)


LINK_STATUS_NONE = "not_linked"
LINK_STATUS_LEARN = "learn"
LINK_STATUS_UNIVERSITY = "partner_university"
LINK_STATUS_BOTH = "both"


@dataclass
class AnalyticsRow:
    user_id: int
    email: str
    display_name: str
    status: str
    credited: int
    pending: int


def link_status(has_learn: bool, has_university: bool) -> str:
    if has_learn and has_university:
        return LINK_STATUS_BOTH
    if has_learn:
        return LINK_STATUS_LEARN
    if has_university:
        return LINK_STATUS_UNIVERSITY
    return LINK_STATUS_NONE


def _analytics_select(organization_id: int, on: date):
    is_learn = case((LinkedAccount.provider == LEARN, 1), else_=0)
    is_university = case((LinkedAccount.provider == PARTNER_UNIVERSITY, 1), else_=0)
    credited = case((Achievement.credit_on <= on, 1), else_=0)
    pending = case((Achievement.credit_on > on, 1), else_=0)
    return (
        select(WorkUser.id, WorkUser.email, WorkUser.display_name,
               func.max(is_learn).label("learn"), func.max(is_university).label("university"),
               func.coalesce(func.sum(credited), 0).label("credited"),
               func.coalesce(func.sum(pending), 0).label("pending"))
        .select_from(WorkUser)
        .outerjoin(LinkedAccount, and_(LinkedAccount.work_user_id == WorkUser.id,
                                       LinkedAccount.ended_at.is_(None)))
        .outerjoin(Achievement, Achievement.link_id == LinkedAccount.id)
        .where(WorkUser.organization_id == organization_id, WorkUser.deleted_at.is_(None))
        .group_by(WorkUser.id, WorkUser.email, WorkUser.display_name)
    )


def learn_analytics_page(organization_id: int, page: int = 1, per_page: int = REPORT_PAGE_SIZE,
                         on: date | None = None) -> tuple[ReportPage, dict[str, int]]:
    """Every current work user with link status and credited/pending counts, plus org-wide totals.

    Five queries whatever the size: users, users per link status, achievement totals, the page's
    users (in email order from the index), and their counts.
    """
    on = on or today()
    current_users = (WorkUser.organization_id == organization_id, WorkUser.deleted_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(WorkUser).where(*current_users)) or 0

    flags = (select(LinkedAccount.work_user_id.label("user_id"),
                    func.max(case((LinkedAccount.provider == LEARN, 1), else_=0)).label("learn"),
                    func.max(case((LinkedAccount.provider == PARTNER_UNIVERSITY, 1), else_=0)).label("university"))
             .where(LinkedAccount.organization_id == organization_id, LinkedAccount.ended_at.is_(None))
             .group_by(LinkedAccount.work_user_id).subquery())
    totals = {LINK_STATUS_NONE: total, LINK_STATUS_LEARN: 0, LINK_STATUS_UNIVERSITY: 0, LINK_STATUS_BOTH: 0}
    for has_learn, has_university, users in db.session.execute(
            select(flags.c.learn, flags.c.university, func.count())
            .join(WorkUser, WorkUser.id == flags.c.user_id).where(*current_users)
            .group_by(flags.c.learn, flags.c.university)):
        totals[link_status(bool(has_learn), bool(has_university))] += users
        totals[LINK_STATUS_NONE] -= users

    credited, pending = db.session.execute(
        select(func.coalesce(func.sum(case((Achievement.credit_on <= on, 1), else_=0)), 0),
               func.coalesce(func.sum(case((Achievement.credit_on > on, 1), else_=0)), 0))
        .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
        .join(WorkUser, WorkUser.id == Achievement.work_user_id)
        .where(Achievement.organization_id == organization_id, LinkedAccount.ended_at.is_(None),
               *current_users)).one()

    page = _page_number(page, total, per_page)
    page_users = db.session.execute(
        select(WorkUser.id, WorkUser.email, WorkUser.display_name).where(*current_users)
        .order_by(WorkUser.email).limit(per_page).offset((page - 1) * per_page)).all()
    counts = {}
    if page_users:
        counts = {r.id: r for r in db.session.execute(
            _analytics_select(organization_id, on).where(WorkUser.id.in_([u.id for u in page_users])))}
    items = []
    for user in page_users:
        r = counts.get(user.id)
        items.append(AnalyticsRow(user.id, user.email, user.display_name,
                                  link_status(bool(r and r.learn), bool(r and r.university)),
                                  int(r.credited) if r else 0, int(r.pending) if r else 0))
    return ReportPage(items, page, per_page, total), {**totals, "credited": int(credited),
                                                       "pending": int(pending)}


@lru_cache(maxsize=4)
def _load_skilling_file(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def skilling_points_config(path: Path | None = None) -> dict:
    path = path or SKILLING_POINTS_FILE
    return _load_skilling_file(str(path), path.stat().st_mtime)


def metric_points(count: int, threshold: int, max_points: float) -> float:
    """Proportional points for progress, full points at the threshold, never more."""
    if threshold <= 0:
        return float(max_points)
    return round(max_points * min(count, threshold) / threshold, 2)


@dataclass
class MetricPoints:
    level: str
    certifications: list[str]
    individuals: int
    threshold: int
    max_points: float
    points: float


@dataclass
class AreaPoints:
    key: str
    name: str
    metrics: list[MetricPoints]

    @property
    def points(self) -> float:
        return round(sum(m.points for m in self.metrics), 2)

    @property
    def max_points(self) -> float:
        return round(sum(m.max_points for m in self.metrics), 2)


def skilling_points(organization_id: int, on: date | None = None,
                    config: dict | None = None) -> list[AreaPoints]:
    """The Skilling metric per solution area: individuals with credited intermediate / advanced
    certifications of the area, against the thresholds of the data file.

    One query: a flag per metric for each individual (grouped in the index's user order, so no
    DISTINCT sets are built), then the flags summed.
    """
    on = on or today()
    config = config or skilling_points_config()
    all_codes = sorted({code for area in config["solution_areas"] for level in SKILLING_LEVELS
                        for code in area[level]["certifications"]})
    flags = []
    for area in config["solution_areas"]:
        for level in SKILLING_LEVELS:
            codes = area[level]["certifications"]
            flags.append(func.max(case((Achievement.code.in_(codes), 1), else_=0)).label(f"m{len(flags)}"))
    per_individual = (
        select(*flags).select_from(Achievement)
        .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
        .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
        .where(Achievement.organization_id == organization_id, Achievement.kind == "certification",
               Achievement.code.in_(all_codes), Achievement.credit_on <= on, reportable_link_clause(on))
        .group_by(Achievement.work_user_id).subquery())
    counts = db.session.execute(select(*[func.coalesce(func.sum(c), 0) for c in per_individual.c])).one()
    result, position = [], 0
    for area in config["solution_areas"]:
        metrics = []
        for level in SKILLING_LEVELS:
            spec = area[level]
            individuals = int(counts[position] or 0)
            position += 1
            metrics.append(MetricPoints(level, list(spec["certifications"]), individuals,
                                        int(spec["threshold"]), float(spec["max_points"]),
                                        metric_points(individuals, int(spec["threshold"]),
                                                      float(spec["max_points"]))))
        result.append(AreaPoints(area["key"], area["name"], metrics))
    return result



# --------------------------------------------------------------------------- audit log
# (append-only record of sign-ins, links, removals, moves, admin changes, clock changes.)

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
# Events about the whole installation (not one organization): every Global admin sees them.
AUDIT_GLOBAL_ACTIONS = (AUDIT_CLOCK_CHANGED, AUDIT_DEMO_RESET)
# Where the web layer puts the request's address for record_audit (flask.g).
AUDIT_ADDRESS_KEY = "audit_address"


def record_audit(action: str, *, organization_id: int | None, target: str = "",
                 actor: WorkUser | None = None, actor_email: str | None = None,
                 detail: dict | None = None, address: str | None = None) -> AuditEvent:
    """Append one audit event to the current transaction (the caller's commit writes both).

    The caller names the actor (``actor``, or ``actor_email`` when there is no row to point
    at): nothing here reads the signed-in user, whose row may be gone (the demo reset).
    ``address`` defaults to the one the web layer noted for this request (audit/routes.py).
    """
    if address is None:
        address = g.get(AUDIT_ADDRESS_KEY, "") if has_app_context() else ""
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


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells that start with these as formulas (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv_rows(organization_id: int) -> list[list[str]]:
    import json
    rows = [list(AUDIT_CSV_COLUMNS)]
    for e in audit_rows(organization_id):
        rows.append([_csv_cell(v) for v in (
            e.at.isoformat(timespec="seconds") + "Z", e.clock_at.isoformat(timespec="seconds") + "Z",
            e.action, e.actor, e.target, e.address,
            json.dumps(e.detail or {}, ensure_ascii=False, sort_keys=True))])
    return rows
