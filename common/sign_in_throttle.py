"""Sign-in throttling both apps use: a fixed-window count of failures per key (an account, an
address), kept in each app's own table so every worker and host shares it, and a password check
that costs the same for an unknown email as for a wrong password.

Each app passes its session and its window model (columns ``key``, ``window_start``,
``failures``); the windows follow real time, never a simulated clock: only a real wait lifts a
lock-out.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

# A valid hash per hash method, compared against when the email is unknown (computed once).
_DUMMY_HASHES: dict[str, str] = {}


def window_start(window: timedelta) -> datetime:
    """The start of the current window (naive UTC)."""
    seconds = int(window.total_seconds())
    epoch = int(datetime.now(timezone.utc).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, timezone.utc).replace(tzinfo=None)


def exhausted_scope(session, model, keys: dict[str, str], limits: dict[str, int],
                    start: datetime) -> str | None:
    """The first scope of ``keys`` ({scope: key}) whose failures reached its limit, else None
    (one query for every key)."""
    failures = dict(session.execute(select(model.key, model.failures).where(
        model.key.in_(list(keys.values())), model.window_start == start)).all())
    for scope, key in keys.items():
        if failures.get(key, 0) >= limits[scope]:
            return scope
    return None


def count_failure(session, model, keys: dict[str, str], start: datetime) -> None:
    """One more failure for each key in this window; the caller commits."""
    for key in keys.values():
        bump = (update(model)
                .where(model.key == key, model.window_start == start)
                .values(failures=model.failures + 1)
                .execution_options(synchronize_session=False))
        if session.execute(bump).rowcount:
            continue
        try:
            with session.begin_nested():
                session.add(model(key=key, window_start=start, failures=1))
        except IntegrityError:  # another worker created the row a moment ago
            session.execute(bump)
    # Old windows are of no use: drop them as we go.
    session.execute(delete(model).where(model.window_start < start))


def clear_failures(session, model, key: str) -> None:
    """End one key's count (a successful sign-in ends its account's); writes only when there is
    a count, so a plain sign-in opens no write transaction."""
    if session.scalar(select(model.key).where(model.key == key).limit(1)) is not None:
        session.execute(delete(model).where(model.key == key))


def password_matches(password_hash: str | None, password: str, method: str) -> bool:
    """Check ``password`` against the account's hash; with no account (``None``) check a dummy
    hash of the same method, so timing does not tell whether the email exists."""
    if password_hash is None:
        if method not in _DUMMY_HASHES:  # not setdefault: that would hash on every call
            _DUMMY_HASHES[method] = generate_password_hash("x", method=method)
        check_password_hash(_DUMMY_HASHES[method], password or "")
        return False
    return check_password_hash(password_hash, password or "")
