"""Per-issuer RS256 signing keys persisted in the database."""

from __future__ import annotations

import json
import threading

from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

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


def get_active_signing_key(issuer: str) -> SigningKey:
    """Return the active key of ``issuer``, creating (and persisting) one on
    first use. Existing keys are never regenerated."""
    stmt = (
        db.select(SigningKey)
        .filter_by(issuer=issuer, active=True, retired_at=None)
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
    )
    row = db.session.scalars(stmt).first()
    if row is not None:
        return row
    with _lock:
        row = db.session.scalars(stmt).first()
        if row is None:
            row = _generate(issuer)
            db.session.add(row)
            db.session.commit()
    return row


def load_private_key(row: SigningKey) -> RSAKey:
    return RSAKey.import_key(json.loads(row.private_jwk))


def public_jwks(issuer: str) -> dict:
    """JWKS with the public part of every non-retired key of ``issuer``."""
    get_active_signing_key(issuer)
    rows = db.session.scalars(
        db.select(SigningKey)
        .filter_by(issuer=issuer, retired_at=None)
        .order_by(SigningKey.id)
    ).all()
    return {"keys": [load_private_key(r).as_dict(private=False) for r in rows]}


def public_key_set(issuer: str) -> KeySet:
    return KeySet.import_key_set(public_jwks(issuer))


def rotate_signing_key(issuer: str, retire_previous: bool = False) -> SigningKey:
    """Create a new active key. Previous keys stay published (inactive) unless
    ``retire_previous`` is set, in which case they leave the JWKS."""
    now = utcnow()
    for row in db.session.scalars(db.select(SigningKey).filter_by(issuer=issuer)):
        row.active = False
        if retire_previous and row.retired_at is None:
            row.retired_at = now
    new = _generate(issuer)
    db.session.add(new)
    db.session.commit()
    return new
