"""The provider session: who is signed in at each issuer, and safe return addresses.

Both issuers are served by one app, so they share one cookie; each keeps its own signed-in
account under its own key.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode, urlsplit

from flask import abort, g, redirect, request, session, url_for

from common.languages import SESSION_KEY as LANG_SESSION_KEY

from .models import Account, db

#: Session key of the browser's "Test scenario" panel id (QA mode), kept across sign-in.
PANEL_SESSION_KEY = "qa_panel"


def session_key(issuer: str) -> str:
    return f"account:{issuer}"


def current_account() -> Account | None:
    data = session.get(session_key(g.issuer))
    if not data:
        return None
    account_id, nonce = data.get("id"), data.get("nonce")
    account = (db.session.get(Account, account_id)
               if isinstance(account_id, int) and isinstance(nonce, str) else None)
    # The id alone is not enough: a deleted account's id may name a newer account now.
    if (account is None or account.issuer != g.issuer
            or not hmac.compare_digest(account.session_nonce, nonce)):
        session.pop(session_key(g.issuer), None)
        return None
    return account


def sign_in(account: Account) -> None:
    """A fresh session at sign-in: nothing set before it (CSRF token, flashes) survives.

    The other issuer's sign-in and the language choice are kept: the two providers only
    share a cookie because they are served by one app. So is the Test scenario panel id: a
    scenario armed on the sign-in page applies to this browser's flow once signed in.
    """
    kept = {k: v for k, v in session.items()
            if (k.startswith("account:") and k != session_key(g.issuer))
            or k in (LANG_SESSION_KEY, PANEL_SESSION_KEY)}
    session.clear()
    session.update(kept)
    g.pop("csrf_token", None)  # Flask-WTF caches the token of the old session per request
    session[session_key(g.issuer)] = {"id": account.id, "nonce": account.session_nonce,
                                      "auth_time": int(time.time())}


def signed_in_at() -> int | None:
    """When the session's account of this issuer signed in (seconds since the epoch)."""
    value = (session.get(session_key(g.issuer)) or {}).get("auth_time")
    return value if isinstance(value, int) else None


def request_fingerprint() -> str:
    """A digest of this authorize request's parameters (the page language aside)."""
    args = sorted((k, v) for k, v in request.args.items(multi=True) if k != "lang")
    return hashlib.sha256(urlencode(args).encode("utf-8")).hexdigest()


def _mark_key() -> str:
    return f"signed_in_for:{g.issuer}"


def mark_signed_in_for(fingerprint: str) -> None:
    """Remember that the sign-in just made answered the authorize request ``fingerprint``:
    its ``prompt=login`` or ``max_age`` is satisfied for the rest of that request's pages."""
    session[_mark_key()] = fingerprint


def fresh_sign_in_for(fingerprint: str) -> bool:
    mark = session.get(_mark_key())
    return isinstance(mark, str) and hmac.compare_digest(mark, fingerprint)


def forget_sign_in_mark() -> None:
    session.pop(_mark_key(), None)


def sign_out() -> None:
    session.pop(session_key(g.issuer), None)


def require_account() -> Account:
    account = current_account()
    if account is None:
        abort(redirect(url_for("pages.signin", next=request.full_path.rstrip("?"))))
    return account


def safe_next(target: str | None) -> str | None:
    """Only relative paths on this provider (under /<issuer>/) are allowed."""
    if not target:
        return None
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in target):
        # Control characters (CR/LF would split the Location header; browsers drop tab and
        # newlines from URLs, which changes what was checked): never a safe target.
        return None
    target = target.replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    if not parts.path.startswith(f"/{g.issuer}/"):
        return None
    return target
