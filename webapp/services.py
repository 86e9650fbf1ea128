"""Partner Center's rules, as plain functions the routes call.

Everything here works on the database session and takes no request objects,
so the rules can be exercised directly by tests.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from flask import current_app, g, has_app_context
from flask_babel import format_date, gettext as _
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import (
    END_REASON_MOVED,
    END_REASON_REMOVED,
    LANGUAGES,
    LEARN,
    PARTNER_UNIVERSITY,
    ROLE_GLOBAL_ADMIN,
    ROLES,
    AppSetting,
    LearningIdentity,
    LinkAttempt,
    LinkedAccount,
    Organization,
    WorkUser,
)

COOL_OFF = timedelta(days=30)
ASSOCIATION_WINDOW = timedelta(days=365)
ASSOCIATIONS_PER_WINDOW = 3
CLOCK_OFFSET_KEY = "clock_offset_seconds"

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- clock

def real_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def clock_offset() -> timedelta:
    """The simulated clock's offset from real time, shared by all workers via the database."""
    if has_app_context() and "clock_offset" in g:
        return g.clock_offset
    setting = db.session.get(AppSetting, CLOCK_OFFSET_KEY)
    offset = timedelta(seconds=int(setting.value)) if setting else timedelta(0)
    if has_app_context():
        g.clock_offset = offset
    return offset


def now() -> datetime:
    """The one clock every date rule uses (naive UTC)."""
    return real_now() + clock_offset()


def today() -> date:
    return now().date()


def set_clock_offset(offset: timedelta) -> None:
    setting = db.session.get(AppSetting, CLOCK_OFFSET_KEY)
    value = str(int(offset.total_seconds()))
    if setting is None:
        db.session.add(AppSetting(key=CLOCK_OFFSET_KEY, value=value))
    else:
        setting.value = value
    db.session.commit()
    g.pop("clock_offset", None)


# --------------------------------------------------------------------------- users

class ValidationError(ValueError):
    """Input that breaks a rule; the message is meant for the person who typed it."""


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


# A valid hash to compare against when the email is unknown, so both cases cost the same.
_DUMMY_HASHES: dict[str, str] = {}


def authenticate(email: str, password: str) -> WorkUser | None:
    email = (email or "").strip().lower()
    user = db.session.scalar(
        select(WorkUser).where(WorkUser.email == email, WorkUser.deleted_at.is_(None))
    )
    if user is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        dummy = _DUMMY_HASHES.setdefault(method, generate_password_hash("x", method=method))
        check_password_hash(dummy, password or "")
        return None
    return user if check_password_hash(user.password_hash, password or "") else None


def create_organization(name: str, partner_id: str) -> Organization:
    name, partner_id = (name or "").strip(), (partner_id or "").strip()
    if not name:
        raise ValidationError(_("Enter the organization's name."))
    if not partner_id:
        raise ValidationError(_("Enter the partner ID."))
    if db.session.scalar(select(Organization).where(Organization.partner_id == partner_id)):
        raise ValidationError(_("An organization with partner ID %(id)s already exists.", id=partner_id))
    org = Organization(name=name, partner_id=partner_id, created_at=now())
    db.session.add(org)
    db.session.commit()
    return org


def create_work_user(organization: Organization, email: str, display_name: str,
                     password: str, roles: list[str] | tuple[str, ...] = ()) -> WorkUser:
    """Create a work account, as a Global admin or Account admin does in Partner Center."""
    email = (email or "").strip().lower()
    display_name = (display_name or "").strip()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationError(_("Enter a valid work email address."))
    if not display_name:
        raise ValidationError(_("Enter a display name."))
    if len(password or "") < 8:
        raise ValidationError(_("The password must have at least 8 characters."))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationError(_("Unknown role: %(role)s", role=", ".join(unknown)))
    if db.session.scalar(select(WorkUser.id).where(WorkUser.email == email)):
        raise ValidationError(_("A work account with the email %(email)s already exists.", email=email))
    user = WorkUser(
        organization=organization, email=email, display_name=display_name,
        password_hash=hash_password(password), roles=" ".join(roles), created_at=now(),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent creation of the same email
        db.session.rollback()
        raise ValidationError(_("A work account with the email %(email)s already exists.", email=email))
    return user


def set_preferred_language(work_user: WorkUser, language: str) -> None:
    """Remember the page language a work user chose; it applies again at their next sign-in."""
    if language not in LANGUAGES:
        raise ValidationError(_("Unknown language: %(language)s", language=language))
    if work_user.preferred_language != language:
        work_user.preferred_language = language
        db.session.commit()


# --------------------------------------------------------------------------- linking

@dataclass
class PersonalAccount:
    """What the provider told us about the personal account that signed in."""

    provider: str
    issuer: str
    subject: str
    email: str
    display_name: str
    account_type: str = "personal"
    mcid: str | None = None


class LinkRefused(Exception):
    """A link the rules do not allow; ``message`` is shown to the user as is."""

    def __init__(self, code: str, message: str, next_date: date | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.next_date = next_date


def provider_label(provider: str) -> str:
    return _("Microsoft Learn") if provider == LEARN else _("Partner University")


def identity_key_for(account: PersonalAccount) -> str:
    # Limits are per individual: per MCID at Learn, per account at Partner University.
    if account.provider == LEARN:
        return account.mcid or ""
    return f"{account.issuer}|{account.subject}"


def check_learn_prerequisites(account: PersonalAccount) -> None:
    """The seeds' prerequisites: a personal MSA on the Learn profile, and a generated MCID."""
    if account.provider != LEARN:
        return
    if account.account_type != "personal":
        raise LinkRefused("work_account", _(
            "You signed in to Microsoft Learn with a work account. Sign in to your Learn profile, "
            "open Settings > Account management, add your personal Microsoft account (MSA), "
            "then associate again and sign in with that personal account."))
    if not account.mcid:
        raise LinkRefused("no_mcid", _(
            "Your Learn profile has no MCID yet. Sign in to Microsoft Learn and complete your "
            "certification profile to generate an MCID, then associate again."))


def association_starts(identity_id: int) -> list[datetime]:
    """Start dates of every association of one individual, newest first."""
    return list(db.session.scalars(
        select(LinkedAccount.linked_at)
        .where(LinkedAccount.identity_id == identity_id)
        .order_by(LinkedAccount.linked_at.desc())
    ))


def next_association_date(starts: list[datetime], on: date) -> tuple[date | None, str | None]:
    """First day a new association is allowed, and which limit sets it.

    Days are whole UTC calendar days: an association started on day D allows the next one
    on D + 30; the yearly cap counts associations started in the 365 days up to ``on``.
    Returns (None, None) when a new association is allowed on ``on``.
    """
    candidates: list[tuple[date, str]] = []
    if starts:
        candidates.append((starts[0].date() + COOL_OFF, "cool_off"))
    in_window = [s.date() for s in starts if s.date() > on - ASSOCIATION_WINDOW]
    if len(in_window) >= ASSOCIATIONS_PER_WINDOW:
        # The window frees up when the oldest of the last three leaves it.
        candidates.append((in_window[ASSOCIATIONS_PER_WINDOW - 1] + ASSOCIATION_WINDOW, "yearly_cap"))
    blocking = [c for c in candidates if c[0] > on]
    if not blocking:
        return None, None
    return max(blocking)


def limit_message(reason: str, next_date: date) -> str:
    when = format_date(next_date, format="long")
    if reason == "yearly_cap":
        return _("You've attempted to associate with a partner organization. However, an individual "
                 "is limited to three associations a year. Your next available date for a subsequent "
                 "association is %(date)s.", date=when)
    return _("You've attempted to associate with a partner organization. However, we require a "
             "period of 30 days between associations. Your next available date for a subsequent "
             "association is %(date)s.", date=when)


def active_link(work_user: WorkUser, provider: str) -> LinkedAccount | None:
    return db.session.scalar(select(LinkedAccount).where(
        LinkedAccount.work_user_id == work_user.id,
        LinkedAccount.provider == provider,
        LinkedAccount.ended_at.is_(None),
    ))


def _get_or_create_identity(provider: str, key: str) -> LearningIdentity:
    stmt = select(LearningIdentity).where(
        LearningIdentity.provider == provider, LearningIdentity.identity_key == key)
    identity = db.session.scalar(stmt)
    if identity is not None:
        return identity
    try:
        with db.session.begin_nested():
            identity = LearningIdentity(provider=provider, identity_key=key, association_count=0)
            db.session.add(identity)
    except IntegrityError:  # created by a concurrent flow a moment ago
        identity = db.session.scalar(stmt)
    return identity


def associate_account(work_user: WorkUser, account: PersonalAccount) -> LinkedAccount:
    """Link a personal learning account to a work user, applying every rule, in one transaction.

    Raises LinkRefused (and writes nothing) when a rule says no.
    """
    try:
        check_learn_prerequisites(account)
        existing = active_link(work_user, account.provider)
        if existing is not None:
            if existing.issuer == account.issuer and existing.subject == account.subject:
                raise LinkRefused("already_linked", _(
                    "This %(provider)s account is already linked to your work account.",
                    provider=provider_label(account.provider)))
            raise LinkRefused("one_per_user", _(
                "Your work account is already linked to the %(provider)s account %(email)s. "
                "One %(provider)s account can be linked per work account: select Remove access "
                "first, then associate the other one.",
                provider=provider_label(account.provider), email=existing.email))

        identity = _get_or_create_identity(account.provider, identity_key_for(account))
        seen_count = identity.association_count
        current = now()
        next_date, reason = next_association_date(association_starts(identity.id), current.date())
        if next_date is not None:
            raise LinkRefused(reason, limit_message(reason, next_date), next_date)

        # Compare-and-set on the individual's counter: of two completions racing for the same
        # MCID only one can move it from the value both read; the other is refused.
        bumped = db.session.execute(
            update(LearningIdentity)
            .where(LearningIdentity.id == identity.id,
                   LearningIdentity.association_count == seen_count)
            .values(association_count=seen_count + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if bumped != 1:
            raise LinkRefused("concurrent", _(
                "Another association of this account was completed at the same moment. "
                "Reload your profile to see it."))

        # An MCID belongs to one organization (and one work user) at a time: end the others.
        for other in db.session.scalars(select(LinkedAccount).where(
            LinkedAccount.ended_at.is_(None),
            or_(LinkedAccount.identity_id == identity.id,
                (LinkedAccount.issuer == account.issuer) & (LinkedAccount.subject == account.subject)),
        )):
            other.ended_at = current
            other.end_reason = END_REASON_MOVED

        link = LinkedAccount(
            work_user_id=work_user.id, organization_id=work_user.organization_id,
            identity_id=identity.id, provider=account.provider, issuer=account.issuer,
            subject=account.subject, email=account.email, display_name=account.display_name,
            mcid=account.mcid if account.provider == LEARN else None, linked_at=current,
        )
        db.session.add(link)
        db.session.commit()
        return link
    except LinkRefused:
        db.session.rollback()
        raise
    except IntegrityError:
        # A unique index caught a race the counter did not (e.g. two identities, one user).
        db.session.rollback()
        raise LinkRefused("concurrent", _(
            "Another association was completed at the same moment. Reload your profile to see it."))


def remove_link(work_user: WorkUser, provider: str) -> LinkedAccount | None:
    """End the user's active link for a provider; history keeps the row with its end date."""
    link = active_link(work_user, provider)
    if link is None:
        return None
    link.ended_at = now()
    link.end_reason = END_REASON_REMOVED
    db.session.commit()
    return link


def moved_links(work_user: WorkUser, provider: str) -> list[LinkedAccount]:
    """Links of this user that ended because the account was associated elsewhere."""
    return list(db.session.scalars(select(LinkedAccount).where(
        LinkedAccount.work_user_id == work_user.id,
        LinkedAccount.provider == provider,
        LinkedAccount.end_reason == END_REASON_MOVED,
    ).order_by(LinkedAccount.ended_at.desc())))


@dataclass
class ProfileSection:
    provider: str
    link: LinkedAccount | None
    history: list[LinkedAccount]
    next_date: date | None
    next_reason: str | None


def profile_section(work_user: WorkUser, provider: str) -> ProfileSection:
    """What My Learn profile shows for one provider, including the next association date."""
    history = list(db.session.scalars(
        select(LinkedAccount).where(LinkedAccount.work_user_id == work_user.id,
                                    LinkedAccount.provider == provider)
        .order_by(LinkedAccount.linked_at.desc())
    ))
    link = next((h for h in history if h.ended_at is None), None)
    next_date = reason = None
    if history:
        # The limits follow the individual, so use the most recent identity this user linked.
        next_date, reason = next_association_date(association_starts(history[0].identity_id), today())
    return ProfileSection(provider, link, history, next_date, reason)


def count_active_links(organization_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(LinkedAccount).where(
        LinkedAccount.organization_id == organization_id, LinkedAccount.ended_at.is_(None))) or 0



# --------------------------------------------------------------------------- flow traces
# (the flow inspector: who may see a trace, its JSON document, retention.)

# How often, at most, the start of a flow also purges expired traces (per process).
TRACE_PURGE_INTERVAL_SECONDS = 300


def trace_visible_to(attempt: LinkAttempt, viewer: WorkUser) -> bool:
    """The user who ran the flow, and the Global admin of that user's organization."""
    if attempt.work_user_id == viewer.id:
        return True
    return viewer.has_role(ROLE_GLOBAL_ADMIN) and \
        attempt.work_user.organization_id == viewer.organization_id


def traces_for(viewer: WorkUser, limit: int = 200) -> list[LinkAttempt]:
    """Newest first: the viewer's own attempts, or the whole organization's for a Global admin."""
    stmt = select(LinkAttempt).order_by(LinkAttempt.started_at.desc(), LinkAttempt.id.desc()).limit(limit)
    if viewer.has_role(ROLE_GLOBAL_ADMIN):
        stmt = stmt.join(WorkUser, LinkAttempt.work_user_id == WorkUser.id).where(
            WorkUser.organization_id == viewer.organization_id)
    else:
        stmt = stmt.where(LinkAttempt.work_user_id == viewer.id)
    return list(db.session.scalars(stmt))


def latest_trace(work_user: WorkUser) -> LinkAttempt | None:
    return db.session.scalar(select(LinkAttempt).where(LinkAttempt.work_user_id == work_user.id)
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
        "outcome": attempt.outcome,
        "message": attempt.message,
        "steps": list(attempt.steps or []),
    }


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


def purge_old_traces_if_due() -> int | None:
    """purge_old_traces() unless this process ran it in the last few minutes (cheap to call often)."""
    state = current_app.extensions.setdefault("learnlink_trace_purge", {"at": None})
    moment = time.monotonic()
    if state["at"] is not None and moment - state["at"] < TRACE_PURGE_INTERVAL_SECONDS:
        return None
    state["at"] = moment
    return purge_old_traces()


# --------------------------------------------------------------------------- demo reset
# (the trainer's one-step return to the seeded demo state.)

def reset_demo_data() -> dict:
    """Empty every webapp table in one transaction (clock offset included), then seed the demo again.

    Identifiers restart too, so the seeded users get the ids they had after the first seed.
    """
    from .demo import seed_demo  # demo imports services

    tables = db.metadata.sorted_tables
    dialect = db.session.get_bind().dialect
    try:
        if dialect.name == "postgresql":
            names = ", ".join(dialect.identifier_preparer.format_table(t) for t in tables)
            db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                db.session.execute(table.delete())
            if dialect.name == "sqlite" and db.session.execute(text(
                    "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
                db.session.execute(text("DELETE FROM sqlite_sequence"))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    g.pop("clock_offset", None)  # the offset row is gone: the clock is real time again
    current_app.extensions.pop("learnlink_trace_purge", None)
    return seed_demo()


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


# --------------------------------------------------------------------------- user administration
# (Global admin / Account admin: create and delete work users; roles; privacy.)


# --------------------------------------------------------------------------- simulated clock (demo)
# (set / advance / reset the one clock; see now() above.)


# --------------------------------------------------------------------------- transcripts and credit
# (data refresh from the providers' transcript API; ten-day credit rule.)


# --------------------------------------------------------------------------- reports
# (Skills report, deleted users' refresh date, Learn analytics, skilling points.)


# --------------------------------------------------------------------------- audit log
# (append-only record of sign-ins, links, removals, moves, admin changes, clock changes.)
