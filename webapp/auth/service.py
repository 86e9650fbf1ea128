"""Sign-in with a password, its throttling, and sessions (the user loader, ending them).

Throttling is a fixed-window count of failures per account and per address, kept in the
database so all workers share it. Real time, not the simulated clock: moving the demo clock must
not lift a lock-out.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from werkzeug.security import generate_password_hash

from common.sign_in_throttle import (clear_failures, count_failure, exhausted_scope,
                                     password_matches, window_start)

from ..audit.service import (AUDIT_SIGN_IN, AUDIT_SIGN_IN_BLOCKED, AUDIT_SIGN_IN_FAILED, AUDIT_SIGN_OUT,
                             record_audit)
from ..clock import now
from ..extensions import db, login_manager
from ..models import LoginFailureWindow, WorkUser


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def authenticate(email: str, password: str) -> WorkUser | None:
    """The active work user with this email and password; an unknown email costs the same."""
    email = (email or "").strip().lower()
    user = db.session.scalar(
        select(WorkUser).where(WorkUser.email == email, WorkUser.deleted_at.is_(None))
    )
    stored = user.password_hash if user is not None else None
    if not password_matches(stored, password or "", current_app.config["PASSWORD_HASH_METHOD"]):
        return None
    return user


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


def _throttle_keys(email: str, address: str | None) -> dict[str, str]:
    keys = {"account": "account:" + (email or "").strip().lower()[:254]}
    if address:
        keys["address"] = "address:" + address[:64]
    return keys


def sign_in_blocked(email: str, address: str | None) -> SignInBlocked | None:
    """Whether this account or address has used up its failures in the current window."""
    start = window_start(_throttle_window())
    scope = exhausted_scope(db.session, LoginFailureWindow, _throttle_keys(email, address),
                            _throttle_limits(), start)
    return SignInBlocked(until=start + _throttle_window(), scope=scope) if scope else None


def record_sign_in_failure(email: str, address: str | None) -> None:
    """Count one failure for the account and the address; the caller commits."""
    count_failure(db.session, LoginFailureWindow, _throttle_keys(email, address),
                  window_start(_throttle_window()))


def clear_account_failures(email: str) -> None:
    """A successful sign-in ends the account's count (the address keeps its own)."""
    clear_failures(db.session, LoginFailureWindow, _throttle_keys(email, None)["account"])


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
    user.last_signed_in_at = now()
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
