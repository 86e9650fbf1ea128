"""Partner Center's rules, as plain functions the routes call.

Everything here works on the database session and takes no request objects,
so the rules can be exercised directly by tests.
"""
from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache
from pathlib import Path

import requests
from flask import current_app, g, has_app_context
from flask_babel import format_date
from sqlalchemy import (String, and_, bindparam, case, cast, delete, func, or_, select, text, union_all,
                        update)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import contains_eager, defer
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from page_catalog import gettext as _

from . import work_emails
from .extensions import db
from .models import (
    ACHIEVEMENT_KINDS,
    ACHIEVEMENT_LEVELS,
    END_REASON_MOVED,
    END_REASON_MOVED_USER,
    END_REASON_REMOVED,
    END_REASON_USER_DELETED,
    LANGUAGES,
    LEARN,
    PARTNER_UNIVERSITY,
    PROVIDERS,
    ROLE_ACCOUNT_ADMIN,
    ROLE_GLOBAL_ADMIN,
    ROLE_PARTNER_ADMIN,
    ROLES,
    Achievement,
    AppSetting,
    AuditEvent,
    LearningIdentity,
    LinkAttempt,
    LinkedAccount,
    LoginFailureWindow,
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
    value = db.session.execute(_clock_offset_stmt()).scalar()
    offset = timedelta(seconds=int(value)) if value is not None else timedelta(0)
    if has_app_context():
        g.clock_offset = offset
    return offset


@cache
def _clock_offset_stmt():
    # Built once: the clock is read on nearly every page, and building a statement costs more
    # than running it (Core, so no ORM object is made either).
    return select(AppSetting.__table__.c.value).where(AppSetting.__table__.c.key == CLOCK_OFFSET_KEY)


def now() -> datetime:
    """The one clock every date rule uses (naive UTC)."""
    return real_now() + clock_offset()


def today() -> date:
    return now().date()


def set_clock_offset(offset: timedelta, actor: WorkUser | None = None, address: str = "") -> None:
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
    g.pop("clock_offset", None)


# --------------------------------------------------------------------------- users

class ValidationError(ValueError):
    """Input that breaks a rule; the message is meant for the person who typed it.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


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
        if method not in _DUMMY_HASHES:  # not setdefault: that would hash on every call
            _DUMMY_HASHES[method] = generate_password_hash("x", method=method)
        dummy = _DUMMY_HASHES[method]
        check_password_hash(dummy, password or "")
        return None
    return user if check_password_hash(user.password_hash, password or "") else None


# Sign-in throttling: a fixed-window count of failures per account and per address,
# kept in the database so all workers share it. Real time, not the simulated clock: moving
# the demo clock must not lift a lock-out.

@dataclass
class SignInBlocked:
    until: datetime  # naive UTC
    scope: str  # "account" | "address"


def _throttle_limits() -> dict[str, int]:
    config = current_app.config
    return {"account": config.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
            "address": config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)}


def _throttle_window() -> timedelta:
    return timedelta(seconds=current_app.config.get("LOGIN_THROTTLE_WINDOW_SECONDS", 900))


def _window_start(at: datetime) -> datetime:
    seconds = int(_throttle_window().total_seconds())
    epoch = int(at.replace(tzinfo=timezone.utc).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, timezone.utc).replace(tzinfo=None)


def _throttle_keys(email: str, address: str | None) -> dict[str, str]:
    keys = {"account": "account:" + (email or "").strip().lower()[:254]}
    if address:
        keys["address"] = "address:" + address[:64]
    return keys


def sign_in_blocked(email: str, address: str | None) -> SignInBlocked | None:
    """Whether this account or address has used up its failures in the current window."""
    start = _window_start(real_now())
    limits = _throttle_limits()
    for scope, key in _throttle_keys(email, address).items():
        failures = db.session.scalar(select(LoginFailureWindow.failures).where(
            LoginFailureWindow.key == key, LoginFailureWindow.window_start == start)) or 0
        if failures >= limits[scope]:
            return SignInBlocked(until=start + _throttle_window(), scope=scope)
    return None


def record_sign_in_failure(email: str, address: str | None) -> None:
    """Count one failure for the account and the address; the caller commits."""
    start = _window_start(real_now())
    for key in _throttle_keys(email, address).values():
        bump = (update(LoginFailureWindow)
                .where(LoginFailureWindow.key == key, LoginFailureWindow.window_start == start)
                .values(failures=LoginFailureWindow.failures + 1)
                .execution_options(synchronize_session=False))
        if db.session.execute(bump).rowcount:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(LoginFailureWindow(key=key, window_start=start, failures=1))
        except IntegrityError:  # another worker created the row a moment ago
            db.session.execute(bump)
    # Old windows are of no use: drop them as we go.
    db.session.execute(delete(LoginFailureWindow).where(LoginFailureWindow.window_start < start))


def clear_account_failures(email: str) -> None:
    """A successful sign-in ends the account's count (the address keeps its own)."""
    db.session.execute(delete(LoginFailureWindow).where(
        LoginFailureWindow.key == _throttle_keys(email, None)["account"]))


class SignInRefused(Exception):
    """A refused sign-in; ``message`` is shown as is, ``status`` is the HTTP status to use."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


def sign_in_with_password(email: str, password: str, address: str | None) -> WorkUser:
    """Check throttling and the password, count failures, and audit the attempt; one commit.

    Unknown email and wrong password take the same path (same work, same message).
    """
    email = (email or "").strip().lower()
    known = db.session.scalar(select(WorkUser).where(WorkUser.email == email,
                                                     WorkUser.deleted_at.is_(None)))
    org_id = known.organization_id if known is not None else None
    blocked = sign_in_blocked(email, address)
    if blocked is not None:
        record_audit(AUDIT_SIGN_IN_BLOCKED, organization_id=org_id, actor_email=email,
                     target=email, detail={"until": blocked.until.isoformat() + "Z"})
        db.session.commit()
        raise SignInRefused(_("Too many failed sign-in attempts. Try again at %(time)s UTC.",
                              time=blocked.until.strftime("%Y-%m-%d %H:%M")), 429)
    user = authenticate(email, password)
    if user is None:
        record_sign_in_failure(email, address)
        record_audit(AUDIT_SIGN_IN_FAILED, organization_id=org_id, actor_email=email, target=email)
        db.session.commit()
        # One message for unknown email and wrong password: no account enumeration.
        raise SignInRefused(_("The email or password is not correct."), 401)
    clear_account_failures(email)
    record_audit(AUDIT_SIGN_IN, organization_id=user.organization_id, actor=user, target=email)
    db.session.commit()
    return user


def end_sessions(work_user: WorkUser) -> None:
    """End every session and remember cookie of ``work_user``, in every browser (sign-out, demo
    reset): the user loader compares the version in the cookie with this counter. An atomic
    increment in the caller's transaction; a copy of a cookie taken before it signs no one in."""
    work_user.session_version = WorkUser.session_version + 1


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
                     password: str, roles: list[str] | tuple[str, ...] = (),
                     actor: WorkUser | None = None) -> WorkUser:
    """Create a work account, as a Global admin or Account admin does in Partner Center."""
    email = normalize_email(email)
    display_name = (display_name or "").strip()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationError(_("Enter a valid work email address."), "email")
    refuse_look_alike_email(email)
    if not display_name:
        raise ValidationError(_("Enter a display name."), "display_name")
    if len(display_name) > 200:
        raise ValidationError(_("The display name can have at most 200 characters."), "display_name")
    if len(password or "") < 8:
        raise ValidationError(_("The password must have at least 8 characters."), "password")
    if len(password) > 1024:
        raise ValidationError(_("The password can have at most 1024 characters."), "password")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationError(_("Unknown role: %(role)s", role=", ".join(unknown)), "roles")
    existing = db.session.scalar(select(WorkUser).where(WorkUser.email == email))
    if existing is not None:
        if existing.deleted_at is not None:
            # The row stays for history (its links and the Skills report refresh), so the
            # address cannot be given to a new account.
            raise ValidationError(_("The work account %(email)s was deleted; its email address "
                                    "cannot be used for a new account.", email=email), "email")
        raise ValidationError(_("A work account with the email %(email)s already exists.",
                                email=email), "email")
    user = WorkUser(
        organization=organization, email=email, display_name=display_name,
        password_hash=hash_password(password), roles=" ".join(roles), created_at=now(),
    )
    db.session.add(user)
    record_audit(AUDIT_USER_CREATED, organization_id=organization.id, target=email, actor=actor,
                 detail={"roles": list(roles)})
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent creation of the same email
        db.session.rollback()
        raise ValidationError(_("A work account with the email %(email)s already exists.",
                                email=email), "email")
    return user


def normalize_email(email: str | None) -> str:
    """One spelling per address (see work_emails); an invisible character is refused."""
    email = work_emails.normalize(email)
    if work_emails.has_invisible_character(email):
        raise ValidationError(_("The email address contains an invisible character (such as a "
                                "zero-width space). Type the address again."), "email")
    return email


def refuse_look_alike_email(email: str) -> None:
    """Refuse an address that mixes scripts in one part and looks like an existing address."""
    if not work_emails.mixes_scripts(email):
        return
    skeleton = work_emails.skeleton(email)
    if skeleton != email and db.session.scalar(
            select(WorkUser.id).where(WorkUser.email == skeleton).limit(1)) is not None:
        raise ValidationError(_("This address mixes letters of different alphabets (for example a "
                                "Cyrillic “о” among Latin letters) and looks like the address of an "
                                "existing work account. Type the address again with one alphabet."),
                              "email")


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
        # Seeds: "Sign in to the Learn profile with the Microsoft Entra account. In Settings >
        # Account management, associate the personal Microsoft account (MSA)."
        raise LinkRefused("work_account", _(
            "You signed in to Microsoft Learn with a work (Microsoft Entra ID) account. Sign in to "
            "your Learn profile, open Settings > Account management and associate your personal "
            "Microsoft account (MSA); then select Associate Microsoft Learning Account again and "
            "sign in with that personal account."))
    if not account.mcid:
        # Seeds: "Ensure that certification profile is complete and MCID is generated."
        raise LinkRefused("no_mcid", _(
            "Your Learn profile has no MCID yet. Sign in to Microsoft Learn, complete your "
            "certification profile so that an MCID is generated, then select Associate Microsoft "
            "Learning Account again."))


def association_starts(identity_id: int) -> list[datetime]:
    """Start dates of the newest associations of one individual, newest first: the
    ASSOCIATIONS_PER_WINDOW newest, all that next_association_date looks at."""
    return [linked_at for _identity, linked_at in db.session.execute(
        _recent_starts_stmt(1), {"identity_0": identity_id})]


def next_association_date(starts: list[datetime], on: date) -> tuple[date | None, str | None]:
    """First day a new association is allowed, and which limit sets it.

    Days are whole UTC calendar days: an association started on day D allows the next one
    on D + 30; the yearly cap counts associations started in the 365 days up to ``on``.
    Returns (None, None) when a new association is allowed on ``on``. Only the newest
    ASSOCIATIONS_PER_WINDOW starts can matter: those in the window are the newest ones.
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
    return db.session.scalar(_active_link_stmt(), {"work_user_id": work_user.id, "provider": provider})


# The linking flow's statements are built once per process (with bind parameters): building a
# statement costs more than running it on these small indexed lookups.
@cache
def _active_link_stmt():
    return select(LinkedAccount).where(
        LinkedAccount.work_user_id == bindparam("work_user_id"),
        LinkedAccount.provider == bindparam("provider"),
        LinkedAccount.ended_at.is_(None),
    )


def _get_or_create_identity(provider: str, key: str) -> LearningIdentity:
    params = {"provider": provider, "identity_key": key}
    identity = db.session.scalar(_identity_stmt(), params)
    if identity is not None:
        return identity
    try:
        with db.session.begin_nested():
            identity = LearningIdentity(provider=provider, identity_key=key, association_count=0)
            db.session.add(identity)
    except IntegrityError:  # created by a concurrent flow a moment ago
        identity = db.session.scalar(_identity_stmt(), params)
    return identity


@cache
def _identity_stmt():
    return select(LearningIdentity).where(LearningIdentity.provider == bindparam("provider"),
                                          LearningIdentity.identity_key == bindparam("identity_key"))


@cache
def _bump_association_count_stmt():
    # Compare-and-set: only moves the counter from the value the caller read.
    return (update(LearningIdentity)
            .where(LearningIdentity.id == bindparam("identity_id"),
                   LearningIdentity.association_count == bindparam("seen_count"))
            .values(association_count=bindparam("new_count"))
            .execution_options(synchronize_session=False))


@cache
def _other_active_links_stmt():
    """The active links of one individual (by identity, or by the provider's account)."""
    return select(LinkedAccount).where(
        LinkedAccount.ended_at.is_(None),
        or_(LinkedAccount.identity_id == bindparam("identity_id"),
            (LinkedAccount.issuer == bindparam("issuer")) & (LinkedAccount.subject == bindparam("subject"))),
    )


# A locked SQLite database or a PostgreSQL deadlock is retried this many times, then refused.
DB_BUSY_ATTEMPTS = 4


def associate_account(work_user: WorkUser, account: PersonalAccount,
                      at: datetime | None = None) -> LinkedAccount:
    """Link a personal learning account to a work user, applying every rule, in one transaction.

    ``at`` is the moment of the association (default: ``now()``); the demo data uses it to
    record past associations through the same rules. Raises LinkRefused (and writes
    nothing) when a rule says no.
    """
    for attempt in range(1, DB_BUSY_ATTEMPTS + 1):
        try:
            return _associate_once(work_user, account, at)
        except OperationalError:
            # "database is locked" (SQLite) or a deadlock (PostgreSQL): nothing was written;
            # try the whole decision again on fresh data, then give a clean refusal.
            db.session.rollback()
            if attempt == DB_BUSY_ATTEMPTS:
                raise LinkRefused("busy", _(
                    "Partner Center is busy and could not record the association. Nothing was "
                    "linked; please try again in a moment."))
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


def _associate_once(work_user: WorkUser, account: PersonalAccount,
                    at: datetime | None) -> LinkedAccount:
    try:
        if work_user.deleted_at is not None:
            raise LinkRefused("user_deleted", _(
                "This work account was deleted; it cannot link learning accounts."))
        check_learn_prerequisites(account)
        key = identity_key_for(account)
        existing = active_link(work_user, account.provider)
        if existing is not None:
            same_account = existing.issuer == account.issuer and existing.subject == account.subject
            if same_account or existing.identity.identity_key == key:
                # Signing in again with what is already linked changes nothing and does not count.
                raise LinkRefused("already_linked", _(
                    "This %(provider)s account is already linked to your work account.",
                    provider=provider_label(account.provider)))
            raise LinkRefused("one_per_user", _(
                "Your work account is already linked to the %(provider)s account %(email)s. "
                "One %(provider)s account can be linked per work account: select Remove access "
                "first, then associate the other one.",
                provider=provider_label(account.provider), email=existing.email))

        identity = _get_or_create_identity(account.provider, key)
        seen_count = identity.association_count
        current = at or now()
        next_date, reason = next_association_date(association_starts(identity.id), current.date())
        if next_date is not None:
            raise LinkRefused(reason, limit_message(reason, next_date), next_date)

        # Compare-and-set on the individual's counter: of two completions racing for the same
        # MCID only one can move it from the value both read; the other is refused.
        bumped = db.session.execute(_bump_association_count_stmt(), {
            "identity_id": identity.id, "seen_count": seen_count, "new_count": seen_count + 1}).rowcount
        if bumped != 1:
            raise LinkRefused("concurrent", _(
                "Another association of this account was completed at the same moment. "
                "Reload your profile to see it."))
        # The object keeps what the row now holds (the commit below does not expire it).
        set_committed_value(identity, "association_count", seen_count + 1)

        # An MCID belongs to one organization (and one work user) at a time: end the others.
        for other in db.session.scalars(_other_active_links_stmt(), {
                "identity_id": identity.id, "issuer": account.issuer, "subject": account.subject}):
            other.ended_at = current
            other.end_reason = (END_REASON_MOVED if other.organization_id != work_user.organization_id
                                else END_REASON_MOVED_USER)
            same_org = other.organization_id == work_user.organization_id
            # The old organization learns that the account moved, not who it moved to.
            record_audit(AUDIT_LINK_MOVED, organization_id=other.organization_id,
                         actor=work_user if same_org else None,
                         actor_email=None if same_org else "",
                         target=_audit_target(other),
                         detail={"from_user": other.work_user.email,
                                 "to": work_user.email if same_org else "another organization"})
        # The ended rows must be written before the new active row, or the partial unique
        # indexes would see two active links for one identity.
        db.session.flush()

        link = LinkedAccount(
            work_user_id=work_user.id, organization_id=work_user.organization_id,
            identity_id=identity.id, provider=account.provider, issuer=account.issuer,
            subject=account.subject, email=account.email, display_name=account.display_name,
            mcid=account.mcid if account.provider == LEARN else None, linked_at=current,
        )
        db.session.add(link)
        record_audit(AUDIT_LINK_ADDED, organization_id=work_user.organization_id, actor=work_user,
                     target=_audit_target(link),
                     detail={"provider": link.provider, "email": link.email, "subject": link.subject})
        commit_keeping_loaded_values()
        return link
    except LinkRefused:
        db.session.rollback()
        raise
    except IntegrityError:
        # A unique index caught a race the counter did not (e.g. two identities, one user).
        db.session.rollback()
        raise LinkRefused("concurrent", _(
            "Another association was completed at the same moment. Reload your profile to see it."))


def _audit_target(link: LinkedAccount) -> str:
    return f"{link.provider} {link.mcid or link.email}"


def remove_link(work_user: WorkUser, provider: str) -> LinkedAccount | None:
    """End the user's active link for a provider; history keeps the row with its end date."""
    link = active_link(work_user, provider)
    if link is None:
        return None
    link.ended_at = now()
    link.end_reason = END_REASON_REMOVED
    record_audit(AUDIT_LINK_REMOVED, organization_id=link.organization_id, actor=work_user,
                 target=_audit_target(link), detail={"provider": provider, "email": link.email})
    commit_keeping_loaded_values()
    return link


def commit_keeping_loaded_values() -> None:
    """Commit without expiring the session's objects.

    After a link is recorded or ended, the request goes on to read it, the flow's trace and the
    signed-in user (the trace, the message); a normal commit expires them all, and each first
    read then reloads its row with one more query. Use it only where every object of the session
    holds what its row holds: values written through the ORM, not by a bulk UPDATE.
    """
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


MOVED_REASONS = (END_REASON_MOVED, END_REASON_MOVED_USER)


def moved_links(work_user: WorkUser, provider: str) -> list[LinkedAccount]:
    """Links of this user that ended because the account was associated elsewhere."""
    return list(db.session.scalars(select(LinkedAccount).where(
        LinkedAccount.work_user_id == work_user.id,
        LinkedAccount.provider == provider,
        LinkedAccount.end_reason.in_(MOVED_REASONS),
    ).order_by(LinkedAccount.ended_at.desc())))


# My Learn profile lists the newest ended associations only: a QA account linked thousands of
# times must not make every page view render (and query) its whole history.
PROFILE_HISTORY_SHOWN = 10


def replaced_link(link: LinkedAccount) -> LinkedAccount | None:
    """The link (elsewhere) that this association ended by moving the account here."""
    return db.session.scalar(_replaced_link_stmt(), {
        "identity_id": link.identity_id, "link_id": link.id, "linked_at": link.linked_at})


@cache
def _replaced_link_stmt():
    return select(LinkedAccount).where(
        LinkedAccount.identity_id == bindparam("identity_id"),
        LinkedAccount.id != bindparam("link_id"),
        LinkedAccount.end_reason.in_(MOVED_REASONS),
        LinkedAccount.ended_at == bindparam("linked_at"),
    ).order_by(LinkedAccount.id.desc()).limit(1)


@dataclass
class ProfileSection:
    provider: str
    link: LinkedAccount | None
    history: list[LinkedAccount]  # ended associations, newest first, at most PROFILE_HISTORY_SHOWN
    # First day a new association is allowed (today when nothing blocks it), and the limit
    # that sets it ("cool_off", "yearly_cap", or None when nothing blocks).
    next_date: date
    next_reason: str | None
    history_total: int = 0  # every ended association
    # The other organization's (or work account's) link that this active link replaced.
    moved_from: LinkedAccount | None = None
    # The latest link of this user that ended because the account moved elsewhere, when the
    # user has no active link now.
    moved_away: LinkedAccount | None = None


def profile_sections(work_user: WorkUser) -> dict[str, ProfileSection]:
    """What My Learn profile shows for each provider, including the next association date.

    The cost does not grow with the history (QA accounts link thousands of times): per
    provider, the active link and the newest ended ones are index walks with a LIMIT, the count
    of ended ones is read only when the history is longer than what the page shows, and the
    next dates need only the newest association starts.
    """
    links: dict[str, LinkedAccount] = {}
    history: dict[str, list[LinkedAccount]] = {provider: [] for provider in PROVIDERS}
    for link in db.session.scalars(_profile_links_stmt(), {"work_user_id": work_user.id}):
        if link.ended_at is None:
            links[link.provider] = link
        else:
            history.setdefault(link.provider, []).append(link)
    totals = {provider: len(rows) for provider, rows in history.items()}
    if any(len(rows) >= PROFILE_HISTORY_SHOWN for rows in history.values()):
        for provider, count in db.session.execute(_links_per_provider_stmt(), {"work_user_id": work_user.id}):
            if provider in totals:
                totals[provider] = count - (1 if provider in links else 0)
    # The limits follow the individual, so use the most recent identity this user linked.
    newest = {provider: max((row for row in (links.get(provider), (history[provider] or [None])[0])
                             if row is not None), key=lambda row: row.linked_at, default=None)
              for provider in history}
    identity_ids = sorted({row.identity_id for row in newest.values() if row is not None})
    starts: dict[int, list[datetime]] = {identity_id: [] for identity_id in identity_ids}
    if identity_ids:
        for identity_id, linked_at in db.session.execute(
                _recent_starts_stmt(len(identity_ids)),
                {f"identity_{i}": identity_id for i, identity_id in enumerate(identity_ids)}):
            starts[identity_id].append(linked_at)
    sections = {}
    for provider, rows in history.items():
        next_date = reason = None
        if newest[provider] is not None:
            recent = sorted(starts[newest[provider].identity_id], reverse=True)
            next_date, reason = next_association_date(recent, today())
        link = links.get(provider)
        moved_away = rows[0] if link is None and rows and rows[0].end_reason in MOVED_REASONS else None
        sections[provider] = ProfileSection(
            provider, link, rows, next_date or today(), reason, totals[provider],
            moved_from=replaced_link(link) if link else None, moved_away=moved_away)
    return sections


@cache
def _profile_links_stmt():
    """Per provider: the active link, and the newest ended ones (at most PROFILE_HISTORY_SHOWN),
    newest first. Each part walks ix_links_user_provider_linked backwards and stops at its LIMIT."""
    user = LinkedAccount.work_user_id == bindparam("work_user_id")
    parts = []
    for provider in PROVIDERS:
        of_provider = select(LinkedAccount.id).where(user, LinkedAccount.provider == provider)
        parts.append(of_provider.where(LinkedAccount.ended_at.is_(None)))
        parts.append(of_provider.where(LinkedAccount.ended_at.is_not(None))
                     .order_by(LinkedAccount.linked_at.desc(), LinkedAccount.id.desc())
                     .limit(PROFILE_HISTORY_SHOWN))
    # Each part in its own subquery: SQLite refuses ORDER BY/LIMIT inside a compound SELECT.
    ids = union_all(*(select(part.subquery().c.id) for part in parts))
    return (select(LinkedAccount).where(LinkedAccount.id.in_(ids))
            .order_by(LinkedAccount.provider, LinkedAccount.linked_at.desc(), LinkedAccount.id.desc()))


@cache
def _links_per_provider_stmt():
    # Counted in the index alone (work_user_id, provider, ...).
    return (select(LinkedAccount.provider, func.count()).where(
        LinkedAccount.work_user_id == bindparam("work_user_id")).group_by(LinkedAccount.provider))


@lru_cache(maxsize=None)
def _recent_starts_stmt(identities: int):
    """The newest association starts of each of ``identities`` individuals: the limits look at
    no more than ASSOCIATIONS_PER_WINDOW of them (see next_association_date)."""
    parts = [select(LinkedAccount.identity_id, LinkedAccount.linked_at)
             .where(LinkedAccount.identity_id == bindparam(f"identity_{i}"))
             .order_by(LinkedAccount.linked_at.desc()).limit(ASSOCIATIONS_PER_WINDOW)
             for i in range(identities)]
    if identities == 1:
        return parts[0]
    return union_all(*(select(*part.subquery().c) for part in parts))


def profile_section(work_user: WorkUser, provider: str) -> ProfileSection:
    return profile_sections(work_user)[provider]


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
    # The steps (the whole trace JSON) are not needed to name the attempt on My Learn profile.
    return db.session.scalar(_latest_trace_stmt(), {"work_user_id": work_user.id})


@cache
def _latest_trace_stmt():
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


OUTCOME_PENDING = "pending"
OUTCOME_ABANDONED = "abandoned"


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


def purge_old_traces_if_due() -> int | None:
    """purge_old_traces() unless this process ran it in the last few minutes (cheap to call often)."""
    state = current_app.extensions.setdefault("learnlink_trace_purge", {"at": None})
    moment = time.monotonic()
    if state["at"] is not None and moment - state["at"] < TRACE_PURGE_INTERVAL_SECONDS:
        return None
    state["at"] = moment
    close_abandoned_attempts()
    return purge_old_traces()


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

    from .demo import seed_demo  # demo imports services

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


# --------------------------------------------------------------------------- simulated clock (demo)
# (set / advance / reset the one clock; see now() above.)
# The clock moves at most ten years either way from real time, so dates stay plausible.

MAX_CLOCK_SHIFT_DAYS = 3650


def clock_is_simulated() -> bool:
    return abs(clock_offset()) >= timedelta(minutes=1)


def set_clock(target: date | datetime, actor: WorkUser | None = None, address: str = "") -> datetime:
    """Move the simulated clock to ``target``: a moment, or a day (at real time's time of day)."""
    real = real_now()
    if isinstance(target, datetime):
        offset = target.replace(tzinfo=None) - real
    else:
        offset = timedelta(days=(target - real.date()).days)
    if abs(offset) > timedelta(days=MAX_CLOCK_SHIFT_DAYS):
        raise ValidationError(_("The simulated date must be within %(days)d days of today's real date.",
                                days=MAX_CLOCK_SHIFT_DAYS), "date")
    set_clock_offset(offset, actor, address)
    return now()


def advance_clock(days: int, actor: WorkUser | None = None, address: str = "") -> datetime:
    """Move the simulated clock forward by whole days."""
    if not isinstance(days, int) or days < 1:
        raise ValidationError(_("Enter a number of days of at least 1."), "days")
    return set_clock(now() + timedelta(days=days), actor, address)


def reset_clock(actor: WorkUser | None = None, address: str = "") -> datetime:
    """Back to real time."""
    set_clock_offset(timedelta(0), actor, address)
    return now()


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
    from authlib.integrations.base_client import OAuthError
    from . import oidc
    from .backchannel import BackChannelLimit, BackChannelSession, refresh_limit_message

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
