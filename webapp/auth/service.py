"""Sign-in with a password, its throttling, and sessions (the user loader, ending them).

Throttling is a fixed-window count of failures per account and per address, kept in the
database so all workers share it. Real time, not the simulated clock: moving the demo clock must
not lift a lock-out.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit.service import (AUDIT_SIGN_IN, AUDIT_SIGN_IN_BLOCKED, AUDIT_SIGN_IN_FAILED, AUDIT_SIGN_OUT,
                             record_audit)
from ..clock import real_now
from ..extensions import db, login_manager
from ..models import LoginFailureWindow, WorkUser


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
                     target=email, address=address, detail={"until": blocked.until.isoformat() + "Z"})
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


# ---------------------------------------------------------------- sessions

@login_manager.user_loader
def load_work_user(user_id: str) -> WorkUser | None:
    row_id, _sep, rest = str(user_id).partition(":")
    created, _sep, version = rest.rpartition(":")  # created_at itself contains colons
    try:
        user = db.session.scalar(_work_user_stmt(), {"id": int(row_id)})
    except (TypeError, ValueError):
        return None
    # A deleted work account loses its sessions at once; so does one whose id now names
    # another (newer) user.
    if user is None or user.deleted_at is not None or user.created_at.isoformat() != created:
        return None
    # Signed out (or reset) since this session began: the cookie is no longer good.
    if version != str(user.session_version or 0):
        return None
    return user


def sign_out(work_user: WorkUser, address: str | None) -> None:
    """Audit the sign-out and end the user's sessions server-side (copies of the cookie stop
    working); one commit. The route then clears the browser's session."""
    record_audit(AUDIT_SIGN_OUT, organization_id=work_user.organization_id, actor=work_user,
                 target=work_user.email, address=address)
    end_sessions(work_user)
    db.session.commit()


@cache
def _work_user_stmt():
    # Built once: every signed-in request loads its user (see profile/service.py for the figure).
    # Most pages name the user's organization: loaded with the user, in the same query.
    return select(WorkUser).options(joinedload(WorkUser.organization)).where(WorkUser.id == bindparam("id"))


def end_sessions(work_user: WorkUser) -> None:
    """End every session and remember cookie of ``work_user``, in every browser (sign-out, demo
    reset): the user loader compares the version in the cookie with this counter. An atomic
    increment in the caller's transaction; a copy of a cookie taken before it signs no one in."""
    work_user.session_version = WorkUser.session_version + 1
