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


def _active_key_query(issuer: str):
    return (
        db.select(SigningKey)
        .where(SigningKey.issuer == issuer, SigningKey.active, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        .limit(1)
    )


def get_active_signing_key(issuer: str) -> SigningKey:
    """Return the active key of ``issuer``, creating (and persisting) one on
    first use. Existing keys are never regenerated."""
    row = db.session.scalars(_active_key_query(issuer)).first()
    if row is not None:
        return row
    with _lock:
        row = db.session.scalars(_active_key_query(issuer)).first()
        if row is None:
            row = _generate(issuer)
            db.session.add(row)
            try:
                db.session.commit()
            except IntegrityError:
                # Another worker created the issuer's key first (one active key per
                # issuer is a unique index): use that one.
                db.session.rollback()
                row = db.session.scalars(_active_key_query(issuer)).one()
    return row


def active_signing_jwk(issuer: str) -> tuple[str, RSAKey]:
    """``(kid, private key)`` of the active key of ``issuer``, read from the database on every
    call (a rotation by any process applies at once): two columns, no ORM object to build."""
    found = db.session.execute(
        db.select(SigningKey.kid, SigningKey.private_jwk)
        .where(SigningKey.issuer == issuer, SigningKey.active, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        .limit(1)).first()
    if found is None:
        row = get_active_signing_key(issuer)  # first use: creates the key
        found = (row.kid, row.private_jwk)
    return found[0], _import_private_jwk(found[1])


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
        .where(SigningKey.issuer == issuer)
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
    for row in db.session.scalars(db.select(SigningKey).where(SigningKey.issuer == issuer)):
        row.active = False
        if row.retired_at is None or row.retired_at > leaves_at:
            row.retired_at = leaves_at
    new = _generate(issuer)
    db.session.add(new)
    db.session.commit()
    return new
