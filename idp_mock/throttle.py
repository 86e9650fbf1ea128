"""Provider sign-in: throttling per account and per address, and the same cost for an unknown
email as for a wrong password.

A fixed-window count of failures per account (of one issuer) and per address, kept in the
database so every worker shares it; after the limit, even the right password is refused until
the window ends. The webapp throttles its own sign-in the same way; the two apps share no code.
"""

from __future__ import annotations

import datetime as dt
import os

from flask import current_app
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from flask_babel import gettext as _

from .models import Account
from .models import LoginFailureWindow
from .models import db
from .services import find_account
from .services import normalize_email

_LIMITS = {"account": ("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
           "address": ("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)}

# A valid hash per hash method, compared against when the email is unknown (computed once).
_DUMMY_HASHES: dict[str, str] = {}


class SignInRefused(Exception):
    """A refused sign-in; ``message`` is shown on the form, ``status`` is the page's status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


def _setting(name: str, default: int) -> int:
    value = current_app.config.get(name)
    return int(value if value is not None else os.environ.get(name, default))


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=_setting("LOGIN_THROTTLE_WINDOW_SECONDS", 900))


def _window_start() -> dt.datetime:
    # Real time (not a simulated clock): only a real wait lifts a lock-out.
    seconds = int(_window().total_seconds())
    epoch = int(dt.datetime.now(dt.timezone.utc).timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.timezone.utc).replace(tzinfo=None)


def _keys(issuer: str, email: str, address: str | None) -> dict[str, str]:
    keys = {"account": f"{issuer}:account:" + normalize_email(email or "")[:254]}
    if address:
        keys["address"] = "address:" + address[:64]
    return keys


def _blocked_until(keys: dict[str, str], start: dt.datetime) -> dt.datetime | None:
    for scope, key in keys.items():
        failures = db.session.scalar(db.select(LoginFailureWindow.failures).where(
            LoginFailureWindow.key == key, LoginFailureWindow.window_start == start)) or 0
        if failures >= _setting(*_LIMITS[scope]):
            return start + _window()
    return None


def _record_failure(keys: dict[str, str], start: dt.datetime) -> None:
    for key in keys.values():
        bump = (db.update(LoginFailureWindow)
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
    db.session.execute(db.delete(LoginFailureWindow).where(LoginFailureWindow.window_start < start))


def _password_matches(account: Account | None, password: str) -> bool:
    if account is None:
        # Unknown email: the same hash work as a wrong password, so timing tells nothing.
        method = current_app.config["IDP_PASSWORD_HASH"]
        if method not in _DUMMY_HASHES:  # not setdefault: that would hash on every call
            _DUMMY_HASHES[method] = generate_password_hash("x", method=method)
        check_password_hash(_DUMMY_HASHES[method], password)
        return False
    return account.check_password(password)


def check_sign_in(issuer: str, email: str, password: str, address: str | None) -> Account:
    """The account for this email and password, or SignInRefused; counts failures, one commit.

    An unknown email and a wrong password take the same path (same work, same message).
    """
    keys = _keys(issuer, email, address)
    start = _window_start()
    until = _blocked_until(keys, start)
    if until is not None:
        raise SignInRefused(_("Too many failed sign-in attempts. Try again at %(time)s UTC.",
                              time=until.strftime("%Y-%m-%d %H:%M")), 429)
    account = find_account(issuer, email or "")
    if not _password_matches(account, password or ""):
        _record_failure(keys, start)
        db.session.commit()
        raise SignInRefused(_("That email and password combination is not recognised."), 200)
    # A successful sign-in ends the account's count (the address keeps its own); written only
    # when there is a count, so a plain sign-in opens no write transaction.
    counted = LoginFailureWindow.key == keys["account"]
    if db.session.scalar(db.select(LoginFailureWindow.id).where(counted).limit(1)) is not None:
        db.session.execute(db.delete(LoginFailureWindow).where(counted))
        db.session.commit()
    return account
