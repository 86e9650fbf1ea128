"""Provider sign-in: throttling per account and per address, and the same cost for an unknown
email as for a wrong password.

A fixed-window count of failures per account (of one issuer) and per address, kept in the
database so every worker shares it; after the limit, even the right password is refused until
the window ends. The counting is common/sign_in_throttle.py, shared with the webapp.
"""

from __future__ import annotations

import datetime as dt
import os

from flask import current_app
from flask_babel import gettext as _

from common.sign_in_throttle import (clear_failures, count_failure, exhausted_scope,
                                     password_matches, window_start)

from .models import Account
from .models import LoginFailureWindow
from .models import db
from .services import find_account
from .services import normalize_email

_LIMITS = {"account": ("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
           "address": ("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)}


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


def _keys(issuer: str, email: str, address: str | None) -> dict[str, str]:
    keys = {"account": f"{issuer}:account:" + normalize_email(email or "")[:254]}
    if address:
        keys["address"] = "address:" + address[:64]
    return keys


def check_sign_in(issuer: str, email: str, password: str, address: str | None) -> Account:
    """The account for this email and password, or SignInRefused; counts failures, one commit.

    An unknown email and a wrong password take the same path (same work, same message).
    """
    keys = _keys(issuer, email, address)
    start = window_start(_window())
    limits = {scope: _setting(*_LIMITS[scope]) for scope in keys}
    if exhausted_scope(db.session, LoginFailureWindow, keys, limits, start) is not None:
        until = start + _window()
        raise SignInRefused(_("Too many failed sign-in attempts. Try again at %(time)s UTC.",
                              time=until.strftime("%Y-%m-%d %H:%M")), 429)
    account = find_account(issuer, email or "")
    stored = account.password_hash if account is not None else None
    if not password_matches(stored, password or "", current_app.config["IDP_PASSWORD_HASH"]):
        count_failure(db.session, LoginFailureWindow, keys, start)
        db.session.commit()
        raise SignInRefused(_("That email and password combination is not recognised."), 200)
    # A successful sign-in ends the account's count (the address keeps its own).
    clear_failures(db.session, LoginFailureWindow, keys["account"])
    db.session.commit()
    return account
