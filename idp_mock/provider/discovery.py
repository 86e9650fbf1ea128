"""OpenID Provider discovery and the JWKS."""
from __future__ import annotations

from flask import g, jsonify

from ..config import SCOPES_SUPPORTED
from ..issuers import issuer_url
from ..keys import public_jwks
from .blueprint import bp

# Clients may cache discovery for an hour and the JWKS for five minutes; a relying party that
# meets an unknown kid refetches the JWKS at once, so a rotation never waits for the expiry.
DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300


def discovery_document(issuer: str) -> dict:
    base = issuer_url(issuer)
    return {
        "issuer": base,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "userinfo_endpoint": base + "/userinfo",
        "jwks_uri": base + "/jwks.json",
        "end_session_endpoint": base + "/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
            "name", "email", "email_verified", "account_type",
        ]
        + (["mcid"] if issuer == "learn" else []),
        "service_documentation": base + "/",
    }


def cacheable(response, max_age: int):
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response


@bp.get("/.well-known/openid-configuration")
def discovery():
    return cacheable(jsonify(discovery_document(g.issuer)), DISCOVERY_MAX_AGE)


@bp.get("/jwks.json")
def jwks():
    return cacheable(jsonify(public_jwks(g.issuer)), JWKS_MAX_AGE)
