"""Authlib authorization servers: one per issuer."""

from __future__ import annotations

import secrets
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749 import UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6749 import grants
from authlib.oidc.core import UserInfo
from authlib.oidc.core import UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.grants.util import validate_nonce
from authlib.oidc.core.util import create_half_hash
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app
from flask import g
from flask import session
from sqlalchemy.orm import joinedload

from .bearer import require_oauth
from .config import ISSUERS
from .interop import NO_BEARER_TOKEN
from .interop import NoBearerTokenError
from .interop import IssuerResponseParameter
from .interop import RequestObjectsNotSupported
from .interop import S256CodeChallenge
from .interop import authenticate_client_secret_basic
from .issuers import issuer_url
from .keys import active_signing_jwk
from .keys import public_jwks
from .models import Account
from .models import AuthorizationCode
from .models import OAuth2Client
from .models import Token
from .models import db
from .qa.arming import session_panel_id
from .qa.faults import TokenFaults
from .qa.faults import id_token_plan
from .qa.faults import userinfo_claims
from .refresh_tokens import TOKEN_ENDPOINT_AUTH_METHODS
from .refresh_tokens import RefreshTokenGrant
from .sessions import session_key


def user_claims(account: Account, issuer: str) -> UserInfo:
    """Claims shared by the id_token and the userinfo response."""
    claims = UserInfo(
        sub=account.subject,
        name=account.profile.display_name,
        email=account.email,
        email_verified=True,
        account_type=account.kind,
    )
    if issuer == "learn" and account.profile.mcid:
        claims["mcid"] = account.profile.mcid
    return claims


def random_token(nbytes: int = 36) -> str:
    """An unguessable URL-safe string (36 bytes: 48 characters, 288 bits)."""
    return secrets.token_urlsafe(nbytes)


def new_access_token(client, grant_type, user, scope) -> str:
    """OAUTH2_ACCESS_TOKEN_GENERATOR: an opaque bearer token."""
    return random_token()


# The code exchange's lookups, built once and run with parameters: building them on every call
# cost 13-18% of the provider's CPU per exchange (bench/run.sh --only exchange, two paired runs:
# 11.4 / 10.4 -> 9.3 / 9.0 ms; ours / node oidc-provider 0.47 / 0.49x -> 0.52 / 0.57x, target 0.5x).
_CODE_WITH_USER = (
    db.select(AuthorizationCode)
    .where(AuthorizationCode.issuer == db.bindparam("issuer"),
           AuthorizationCode.code == db.bindparam("code"),
           AuthorizationCode.client_id == db.bindparam("client_id"))
    .options(joinedload(AuthorizationCode.user).joinedload(Account.profile)))
_CLIENT = db.select(OAuth2Client).where(OAuth2Client.issuer == db.bindparam("issuer"),
                                        OAuth2Client.client_id == db.bindparam("client_id"))
_NONCE_USED = db.select(AuthorizationCode.id).where(
    AuthorizationCode.issuer == db.bindparam("issuer"),
    AuthorizationCode.client_id == db.bindparam("client_id"),
    AuthorizationCode.nonce == db.bindparam("nonce")).limit(1)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def generate_authorization_code(self):
        return random_token()

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        # Authlib offers a refresh token to every client allowed the refresh_token grant; OIDC
        # (Core 11) ties it to the offline_access scope the user allowed.
        include_refresh_token = include_refresh_token and "offline_access" in (
            scope_to_list(scope) or ())
        return super().generate_token(user, scope, grant_type, expires_in,
                                      include_refresh_token)

    @staticmethod
    def validate_authorization_redirect_uri(request, client):
        # OpenID Connect requires redirect_uri; it must match a registered
        # value exactly (OAuth2ClientMixin.check_redirect_uri).
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(redirect_uri):
            # Not quoted (Authlib's own refusal quotes it): an error description may not hold
            # a tab, quote, backslash, non-ASCII or control character, and Authlib raises
            # ValueError building one that does.
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def save_authorization_code(self, code, request):
        signed_in = session.get(session_key(self.server.issuer)) or {}
        now = int(time.time())
        db.session.add(AuthorizationCode(
            issuer=self.server.issuer,
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user_id=request.user.id,
            nonce=request.payload.data.get("nonce"),
            auth_time=signed_in.get("auth_time") or now,
            issued_at=now,
            code_challenge=request.payload.data.get("code_challenge"),
            code_challenge_method=request.payload.data.get("code_challenge_method"),
            qa_panel_id=session_panel_id(),  # panel-armed QA faults follow this code
        ))
        db.session.commit()

    def query_authorization_code(self, code, client):
        # With the account and its profile: the id_token needs both.
        item = db.session.scalar(_CODE_WITH_USER, {"issuer": self.server.issuer, "code": code,
                                                   "client_id": client.client_id})
        if item is None:
            return None
        if item.used_at is not None:
            revoke_tokens_of_code(item)
            return None
        if item.is_expired():
            db.session.delete(item)
            db.session.commit()
            return None
        return item

    def save_token(self, token):
        # Not committed here: the token endpoint commits the token together with the code's
        # claim once the id_token is signed, so a code is redeemed exactly once, and a
        # failure anywhere before leaves both as they were.
        db.session.add(Token(**self.server.token_values(token, self.request)))

    def delete_authorization_code(self, authorization_code):
        # The row stays, marked used by authenticate_user, so that a replay is recognised
        # (and revokes the token issued now); the token endpoint commits.
        pass

    def authenticate_user(self, authorization_code):
        # Claim the code atomically, after client authentication and PKCE passed: of two
        # exchanges racing with the same code only one gets a token.
        # The UPDATE holds the row (PostgreSQL) or the write lock (SQLite) until the token
        # endpoint commits, so a concurrent exchange waits and then finds the code used.
        claimed = db.session.execute(
            db.update(AuthorizationCode)
            .where(AuthorizationCode.id == authorization_code.id,
                   AuthorizationCode.used_at.is_(None))
            .values(used_at=int(time.time()))
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:  # redeemed a moment ago by a concurrent request: a replay
            revoke_tokens_of_code(authorization_code)
            raise InvalidGrantError("The authorization code was already used.")
        return db.session.get(Account, authorization_code.user_id)


def revoke_tokens_of_code(authorization_code: AuthorizationCode) -> int:
    """A replayed code: revoke every token issued from it (RFC 6749 section 4.1.2)."""
    now = int(time.time())
    revoked = db.session.execute(
        db.update(Token)
        .where(Token.authorization_code_id == authorization_code.id,
               Token.access_token_revoked_at == 0)
        .values(access_token_revoked_at=now, refresh_token_revoked_at=now)
    ).rowcount
    db.session.commit()
    current_app.logger.warning(
        "Authorization code replayed (code id %s, client %s): %s token(s) revoked",
        authorization_code.id, authorization_code.client_id, revoked)
    return revoked


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    # A client acting for itself reads transcripts, nothing else: no token names a user.
    SCOPES = {"transcript.read"}

    def validate_requested_scope(self):
        super().validate_requested_scope()
        if not set(scope_to_list(self.request.payload.scope) or ()) <= self.SCOPES:
            raise InvalidScopeError("Client credentials grant only 'transcript.read'.")


class IssuerOpenIDCode(OpenIDCode):
    def __init__(self, issuer: str):
        super().__init__()
        self.issuer = issuer

    def validate_openid_authorization_request(self, grant, redirect_uri):
        # OIDC makes nonce optional in the code flow; a client may require it (its setting).
        validate_nonce(grant.request, self.exists_nonce, grant.request.client.require_nonce)

    def exists_nonce(self, nonce, request):
        # Authlib validates an authorization request twice per request: one query.
        seen = g.setdefault("idp_nonces_seen", {})
        key = (self.issuer, request.payload.client_id, nonce)
        if key not in seen:
            seen[key] = db.session.scalar(_NONCE_USED, {
                "issuer": self.issuer, "client_id": request.payload.client_id, "nonce": nonce}) is not None
        return seen[key]

    def generate_user_info(self, user, scope):
        return user_claims(user, self.issuer)

    def encode_id_token(self, token, request):
        """The ID token, signed with the issuer's active key; an armed id_token scenario's
        fault plan (qa/faults.py) shapes its header, claims and key for this one token."""
        code = request.authorization_code
        plan = id_token_plan(self.issuer, request.client.client_id, request.user,
                             token.get("access_token"), code)
        kid, key = active_signing_jwk(self.issuer)
        header = plan.header(kid)
        now = int(time.time())
        claims = {
            "iss": issuer_url(self.issuer),
            "aud": [request.client.get_client_id()],
            "iat": now,
            "exp": now + current_app.config.get("ID_TOKEN_EXPIRES_IN", 3600),
            "auth_time": now,
            **self.get_authorization_code_claims(code),
        }
        if token.get("access_token"):
            at_hash = create_half_hash(token["access_token"], header["alg"])
            if at_hash is not None:
                claims["at_hash"] = at_hash.decode("utf-8")
        claims.update(self.generate_user_info(request.user, token["scope"]))
        return plan.encode(header, plan.claims(claims), key)


class IssuerUserInfoEndpoint(UserInfoEndpoint):
    def __call__(self, request):
        try:
            return super().__call__(request)
        except NO_BEARER_TOKEN:
            raise NoBearerTokenError() from None

    def get_issuer(self):
        return issuer_url(self.server.issuer)

    def generate_user_info(self, user, scope):
        from authlib.integrations.flask_oauth2 import current_token

        return userinfo_claims(
            self.server.issuer, user_claims(user, self.server.issuer), current_token, user
        )

    def resolve_private_key(self):
        return active_signing_jwk(self.server.issuer)[1]

    def get_supported_algorithms(self):
        return ["RS256"]


class IssuerEndSessionEndpoint(EndSessionEndpoint):
    def get_server_jwks(self):
        return public_jwks(self.server.issuer)

    def get_algorithms(self):
        return ["RS256"]

    def resolve_client_from_id_token_claims(self, id_token_claims):
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        if isinstance(aud, str):
            return self.server.query_client(aud)
        return None

    def is_post_logout_redirect_uri_legitimate(
        self, request, post_logout_redirect_uri, client, logout_hint
    ):
        # The URI was already matched exactly against the client's registered
        # post_logout_redirect_uris and the client_id is known to this issuer.
        return True

    def end_session(self, end_session_request):
        session.pop(session_key(self.server.issuer), None)


class IssuerAuthorizationServer(AuthorizationServer):
    """An authorization server bound to one issuer slug."""

    def __init__(self, issuer: str, app=None):
        self.issuer = issuer
        super().__init__()
        if app is not None:
            self.init_app(app, query_client=self._query, save_token=self._save)
        self.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
        self.register_extension(IssuerResponseParameter(issuer))

    def validate_requested_scope(self, scope):
        # Scopes this provider does not know are ignored, not refused (OIDC Core 3.1.2.1): the
        # client's allowed scopes (OAuth2ClientMixin.get_allowed_scope) filter them out.
        return None

    def get_authorization_grant(self, request):
        # Authlib quotes an unsupported response_type in its error description and raises
        # ValueError (a 500) when the value holds a character such a description may not
        # hold (RFC 6749 5.2): such a value is refused here without quoting it; reported to the
        # client only when its redirect_uri is registered (RFC 6749 4.1.2.1).
        response_type = request.payload.response_type or ""
        if invalid_error_characters(response_type):
            client = self._query(request.payload.client_id or "")
            redirect_uri = request.payload.redirect_uri
            if client is None or not redirect_uri or not client.check_redirect_uri(redirect_uri):
                redirect_uri = None
            raise UnsupportedResponseTypeError(
                "unsupported", "The response type is not supported by the server.",
                redirect_uri=redirect_uri)
        return super().get_authorization_grant(request)

    def _query(self, client_id):
        # Authlib asks for the client several times per request (validation runs again when
        # the response is created): one query per request and client.
        clients = g.setdefault("idp_clients", {})
        if (self.issuer, client_id) not in clients:
            clients[self.issuer, client_id] = db.session.scalar(
                _CLIENT, {"issuer": self.issuer, "client_id": client_id})
        return clients[self.issuer, client_id]

    def token_values(self, token, request) -> dict:
        """The row of an issued token (``token`` is Authlib's token response)."""
        user_id = request.user.id if request.user else None
        code = getattr(request, "authorization_code", None)
        return {
            "issuer": self.issuer,
            "client_id": request.client.client_id,
            "user_id": user_id,
            "authorization_code_id": code.id if code is not None else None,
            **token,
        }

    def _save(self, token, request):
        db.session.add(Token(**self.token_values(token, request)))
        db.session.commit()


def init_oauth(app) -> dict[str, IssuerAuthorizationServer]:
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", new_access_token)
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", new_access_token)
    servers: dict[str, IssuerAuthorizationServer] = {}
    for issuer in ISSUERS:
        server = IssuerAuthorizationServer(issuer, app)
        server.register_grant(
            AuthorizationCodeGrant,
            [S256CodeChallenge(required=True), IssuerOpenIDCode(issuer),
             RequestObjectsNotSupported(), TokenFaults()],
        )
        server.register_grant(ClientCredentialsGrant)
        server.register_grant(RefreshTokenGrant)
        server.register_endpoint(IssuerUserInfoEndpoint(resource_protector=require_oauth))
        server.register_endpoint(IssuerEndSessionEndpoint)
        servers[issuer] = server
    app.extensions["idp_servers"] = servers
    return servers


def get_server() -> IssuerAuthorizationServer:
    return current_app.extensions["idp_servers"][g.issuer]
