"""The ``refresh_token`` grant (Authlib's RefreshTokenGrant): rotation, reuse detection, expiry.

A refresh token is issued by the code flow when the client may use this grant and the user
allowed ``offline_access``. Each use rotates it: the answer carries a new refresh token, the old
one is revoked. Presenting a revoked refresh token again means two parties hold it: every token
of its family (all the tokens descended from one authorization code) is revoked. A refresh token
lives ``IDP_REFRESH_TOKEN_EXPIRES_IN`` seconds from its issue.
"""
from __future__ import annotations

import time

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import grants
from flask import current_app
from sqlalchemy.orm import joinedload

from .models import Account
from .models import Token
from .models import db

#: Client authentication at the token endpoint: confidential clients with their secret, public
#: clients (which hold none) by their client_id alone.
TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def refresh_token_expired(token: Token) -> bool:
    lifetime = current_app.config["IDP_REFRESH_TOKEN_EXPIRES_IN"]
    return token.issued_at + lifetime < time.time()


def revoke_family(token: Token) -> int:
    """Revoke every token issued from the same authorization code as ``token`` (committed)."""
    now = int(time.time())
    family = (Token.authorization_code_id == token.authorization_code_id
              if token.authorization_code_id is not None else Token.id == token.id)
    revoked = db.session.execute(
        db.update(Token)
        .where(Token.issuer == token.issuer, family)
        .values(access_token_revoked_at=db.case((Token.access_token_revoked_at == 0, now),
                                                else_=Token.access_token_revoked_at),
                refresh_token_revoked_at=db.case((Token.refresh_token_revoked_at == 0, now),
                                                 else_=Token.refresh_token_revoked_at))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    current_app.logger.warning(
        "Revoked refresh token used again (client %s): %s token(s) of its family revoked",
        token.client_id, revoked)
    return revoked


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token):
        token = db.session.scalar(
            db.select(Token).filter_by(issuer=self.server.issuer, refresh_token=refresh_token)
            .options(joinedload(Token.user).joinedload(Account.profile)))
        if token is None:
            return None
        client = self.request.client
        if token.refresh_token_revoked_at:
            if client is not None and token.check_client(client):
                revoke_family(token)
            return None
        if refresh_token_expired(token):
            return None
        return token

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def save_token(self, token):
        # The new token joins the family of the one it replaces; committed by the token
        # endpoint together with the old one's revocation.
        values = self.server.token_values(token, self.request)
        values["authorization_code_id"] = self.request.refresh_token.authorization_code_id
        db.session.add(Token(**values))

    def revoke_old_credential(self, refresh_token):
        # One conditional UPDATE: of two requests racing with the same refresh token only one
        # rotates it; the other is a reuse.
        now = int(time.time())
        rotated = db.session.execute(
            db.update(Token)
            .where(Token.id == refresh_token.id, Token.refresh_token_revoked_at == 0)
            .values(refresh_token_revoked_at=now, access_token_revoked_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if rotated != 1:
            db.session.rollback()
            revoke_family(refresh_token)
            raise InvalidGrantError("The refresh token was already used.")
