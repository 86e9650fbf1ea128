"""Remembered consent: what an account allowed each client, so that a later flow asking no more
skips the consent page (and ``prompt=none`` can answer with a code)."""
from __future__ import annotations

from authlib.oauth2.rfc6749.util import scope_to_list
from sqlalchemy.exc import IntegrityError

from .models import Consent, OAuth2Client, db, utcnow


def covers(issuer: str, account_id: int, client_id: str, scope: str | None) -> bool:
    """Whether the account already allowed this client every scope of ``scope``."""
    row = db.session.scalar(db.select(Consent).filter_by(
        issuer=issuer, account_id=account_id, client_id=client_id))
    return row is not None and set(scope_to_list(scope) or ()) <= set(row.scope.split())


def remember(issuer: str, account_id: int, client_id: str, scope: str | None) -> None:
    """Add ``scope`` to what the account allowed the client (committed by the caller)."""
    granted = scope_to_list(scope) or []
    row = db.session.scalar(db.select(Consent).filter_by(
        issuer=issuer, account_id=account_id, client_id=client_id))
    if row is None:
        try:
            with db.session.begin_nested():  # a concurrent Allow of the same pair inserted it
                db.session.add(Consent(issuer=issuer, account_id=account_id,
                                       client_id=client_id, scope=" ".join(sorted(granted))))
            return
        except IntegrityError:
            row = db.session.scalar(db.select(Consent).filter_by(
                issuer=issuer, account_id=account_id, client_id=client_id))
    if not set(granted) <= set(row.scope.split()):  # nothing new: no write
        row.scope = " ".join(sorted(set(row.scope.split()) | set(granted)))
        row.granted_at = utcnow()


def of_account(issuer: str, account_id: int) -> list[tuple[Consent, str]]:
    """The account's remembered consents with each client's display name, newest first."""
    rows = db.session.execute(
        db.select(Consent, OAuth2Client)
        .outerjoin(OAuth2Client, db.and_(OAuth2Client.issuer == Consent.issuer,
                                         OAuth2Client.client_id == Consent.client_id))
        .filter(Consent.issuer == issuer, Consent.account_id == account_id)
        .order_by(Consent.granted_at.desc(), Consent.id.desc())).all()
    return [(consent, client.client_name if client else consent.client_id)
            for consent, client in rows]


def revoke(issuer: str, account_id: int, consent_id: int) -> bool:
    """Forget one remembered consent of the account; False when it has no such consent."""
    deleted = db.session.execute(db.delete(Consent).where(
        Consent.id == consent_id, Consent.issuer == issuer, Consent.account_id == account_id)
    ).rowcount
    db.session.commit()
    return deleted == 1
