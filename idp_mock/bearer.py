"""Bearer tokens at the providers' resource endpoints (userinfo, the transcript API): a token is
valid only at the issuer that minted it, and only a user's token speaks for a user."""
from __future__ import annotations

from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750 import InvalidTokenError
from flask import g
from sqlalchemy.orm import joinedload

from .interop import IssuerResourceProtector
from .models import Account
from .models import Token
from .models import db


# Built once, as the code exchange's lookups in oauth2.py (the figure is there).
_TOKEN_WITH_USER = (
    db.select(Token)
    .where(Token.issuer == db.bindparam("issuer"), Token.access_token == db.bindparam("token"))
    .options(joinedload(Token.user).joinedload(Account.profile)))


class IssuerBearerTokenValidator(BearerTokenValidator):
    """Bearer tokens are only valid at the issuer that minted them."""

    def authenticate_token(self, token_string):
        # With its account and profile: userinfo and the transcript API use both.
        return db.session.scalar(_TOKEN_WITH_USER, {"issuer": g.issuer, "token": token_string})

    def validate_token(self, token, scopes, request):
        super().validate_token(token, scopes, request)
        if "openid" in (scopes or ()) and token.user is None:
            # A token of no user (client credentials) cannot speak for one (RFC 6750 3.1).
            raise InvalidTokenError(description="This token does not identify a user.",
                                    realm=self.realm)


require_oauth = IssuerResourceProtector()
require_oauth.register_token_validator(IssuerBearerTokenValidator())
