"""Partner Center's rules, as plain functions the routes call.

Everything here works on the database session and takes no request objects,
so the rules can be exercised directly by tests.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache, lru_cache

from flask import current_app, g
from flask_babel import format_date
from sqlalchemy import bindparam, delete, func, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import contains_eager, defer
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from page_catalog import gettext as _

from . import work_emails
from .audit.service import (AUDIT_CLOCK_CHANGED, AUDIT_LINK_ADDED, AUDIT_LINK_MOVED, AUDIT_LINK_REMOVED,
                            AUDIT_SIGN_IN, AUDIT_SIGN_IN_BLOCKED, AUDIT_SIGN_IN_FAILED, AUDIT_USER_CREATED,
                            record_audit)
from .clock import CLOCK_OFFSET_KEY, clock_offset, now, real_now, today
from .extensions import db
from .models import (
    END_REASON_MOVED,
    END_REASON_MOVED_USER,
    END_REASON_REMOVED,
    LANGUAGES,
    LEARN,
    PROVIDERS,
    ROLE_GLOBAL_ADMIN,
    ROLES,
    AppSetting,
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

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- clock

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
        record_audit(AUDIT_SIGN_IN_BLOCKED, organization_id=org_id, actor_email=email, address=address,
                     target=email, detail={"until": blocked.until.isoformat() + "Z"})
        db.session.commit()
        raise SignInRefused(_("Too many failed sign-in attempts. Try again at %(time)s UTC.",
                              time=blocked.until.strftime("%Y-%m-%d %H:%M")), 429)
    user = authenticate(email, password)
    if user is None:
        record_sign_in_failure(email, address)
        record_audit(AUDIT_SIGN_IN_FAILED, organization_id=org_id, actor_email=email, target=email,
                     address=address)
        db.session.commit()
        # One message for unknown email and wrong password: no account enumeration.
        raise SignInRefused(_("The email or password is not correct."), 401)
    clear_account_failures(email)
    record_audit(AUDIT_SIGN_IN, organization_id=user.organization_id, actor=user, target=email,
                 address=address)
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
                     actor: WorkUser | None = None, address: str = "") -> WorkUser:
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
                 address=address, detail={"roles": list(roles)})
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
                      at: datetime | None = None, address: str = "") -> LinkedAccount:
    """Link a personal learning account to a work user, applying every rule, in one transaction.

    ``at`` is the moment of the association (default: ``now()``); the demo data uses it to
    record past associations through the same rules. Raises LinkRefused (and writes
    nothing) when a rule says no.
    """
    for attempt in range(1, DB_BUSY_ATTEMPTS + 1):
        try:
            return _associate_once(work_user, account, at, address)
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
                    at: datetime | None, address: str) -> LinkedAccount:
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
                         target=_audit_target(other), address=address,
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
                     target=_audit_target(link), address=address,
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


def remove_link(work_user: WorkUser, provider: str, address: str = "") -> LinkedAccount | None:
    """End the user's active link for a provider; history keeps the row with its end date."""
    link = active_link(work_user, provider)
    if link is None:
        return None
    link.ended_at = now()
    link.end_reason = END_REASON_REMOVED
    record_audit(AUDIT_LINK_REMOVED, organization_id=link.organization_id, actor=work_user,
                 target=_audit_target(link), address=address,
                 detail={"provider": provider, "email": link.email})
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
