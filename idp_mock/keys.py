"""Per-issuer RS256 signing keys persisted in the database.

``SigningKey.retired_at`` is the moment a key leaves the JWKS. A rotation sets it
in the future on the previous keys (the grace period), so relying parties holding
tokens signed with an old key can still verify them until then.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from functools import lru_cache

from flask import current_app

from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy.exc import IntegrityError

from .models import SigningKey
from .models import db
from .models import utcnow

_lock = threading.Lock()


def _generate(issuer: str) -> SigningKey:
    key = RSAKey.generate_key(
        2048, parameters={"use": "sig", "alg": "RS256"}, private=True, auto_kid=True
    )
    data = key.as_dict(private=True)
    return SigningKey(issuer=issuer, kid=data["kid"], private_jwk=json.dumps(data), active=True)


def _active_key_stmt(what, key):
    return (
        db.select(*what)
        .where(key.issuer == db.bindparam("issuer"), key.active.is_(True),
               key.retired_at.is_(None))
        .order_by(key.created_at.desc(), key.id.desc())
        .limit(1)
    )


# Built once and run with parameters: the token endpoint reads the active key on every
# request, and building a statement costs more than running it. The (kid, JWK) read names
# the table's columns: a plain Core query skips the ORM's statement handling.
_ACTIVE_KEY = _active_key_stmt([SigningKey], SigningKey)
_KEYS = SigningKey.__table__.c
_ACTIVE_KEY_JWK = _active_key_stmt([_KEYS.kid, _KEYS.private_jwk], _KEYS)


def get_active_signing_key(issuer: str) -> SigningKey:
    """Return the active key of ``issuer``, creating (and persisting) one on
    first use. Existing keys are never regenerated."""
    params = {"issuer": issuer}
    row = db.session.scalars(_ACTIVE_KEY, params).first()
    if row is not None:
        return row
    with _lock:
        row = db.session.scalars(_ACTIVE_KEY, params).first()
        if row is None:
            row = _generate(issuer)
            db.session.add(row)
            try:
                db.session.commit()
            except IntegrityError:
                # Another worker created the issuer's key first (one active key per
                # issuer is a unique index): use that one.
                db.session.rollback()
                row = db.session.scalars(_ACTIVE_KEY, params).one()
    return row


def active_signing_jwk(issuer: str) -> tuple[str, RSAKey]:
    """``(kid, private key)`` of the active key of ``issuer``, read from the database on every
    call (a rotation by any process applies at once) without loading an ORM object."""
    found = db.session.execute(_ACTIVE_KEY_JWK, {"issuer": issuer}).first()
    if found is None:
        row = get_active_signing_key(issuer)  # first use: creates the key
        found = (row.kid, row.private_jwk)
    kid, private_jwk = found
    return kid, _import_private_jwk(private_jwk)


def load_private_key(row: SigningKey) -> RSAKey:
    return _import_private_jwk(row.private_jwk)


@lru_cache(maxsize=32)
def _import_private_jwk(private_jwk: str) -> RSAKey:
    """Importing an RSA private key validates it (about 40 ms), so each key is loaded once per
    process. The cache is keyed by the stored key itself: a rotation stores a new key and is
    picked up at once; the database still says which key is active."""
    return RSAKey.import_key(json.loads(private_jwk))


def published_keys(issuer: str) -> list[SigningKey]:
    """Keys of ``issuer`` in the JWKS now: never retired, or still in their grace period."""
    stmt = (
        db.select(SigningKey)
        .filter_by(issuer=issuer)
        .where(db.or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > utcnow()))
        .order_by(SigningKey.id)
    )
    rows = list(db.session.scalars(stmt))
    # One query when the issuer has its active key (the usual case); else create it first.
    if not any(row.active and row.retired_at is None for row in rows):
        get_active_signing_key(issuer)
        rows = list(db.session.scalars(stmt))
    return rows


def public_jwks(issuer: str) -> dict:
    """JWKS with the public part of every published key of ``issuer``."""
    return {"keys": [load_private_key(r).as_dict(private=False) for r in published_keys(issuer)]}


def public_jwks_body(issuer: str) -> bytes:
    """The serialized JWKS. The published keys are read on every call, so a rotation or a
    retirement by another process or the CLI shows in the next response; serializing them
    is done once per key set."""
    return _jwks_body(tuple((row.id, row.private_jwk) for row in published_keys(issuer)))


@lru_cache(maxsize=32)
def _jwks_body(published: tuple[tuple[int, str], ...]) -> bytes:
    return json.dumps({"keys": [_import_private_jwk(jwk).as_dict(private=False)
                                for _id, jwk in published]}).encode()


def public_key_set(issuer: str) -> KeySet:
    return KeySet.import_key_set(public_jwks(issuer))


def rotate_signing_key(
    issuer: str, retire_previous: bool = False, grace_seconds: int | None = None
) -> SigningKey:
    """Create a new active key with a new ``kid``.

    Previous keys stop signing at once and stay in the JWKS for ``grace_seconds``
    (default ``IDP_KEY_ROTATION_GRACE_SECONDS``); ``retire_previous`` drops them now.
    A key already scheduled to leave earlier keeps its earlier date."""
    if grace_seconds is None:
        grace_seconds = int(current_app.config.get("IDP_KEY_ROTATION_GRACE_SECONDS", 86400))
    now = utcnow()
    leaves_at = now if retire_previous else now + dt.timedelta(seconds=grace_seconds)
    for row in db.session.scalars(db.select(SigningKey).filter_by(issuer=issuer)):
        row.active = False
        if row.retired_at is None or row.retired_at > leaves_at:
            row.retired_at = leaves_at
    new = _generate(issuer)
    db.session.add(new)
    db.session.commit()
    return new
