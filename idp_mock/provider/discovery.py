"""OpenID Provider discovery and the JWKS."""
from __future__ import annotations

from flask import abort, g, jsonify

from ..config import ISSUERS, SCOPES_SUPPORTED
from ..issuers import issuer_url
from ..keys import public_jwks
from ..pages.blueprint import root
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
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["en", "fr", "zh-TW"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
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


@root.get("/.well-known/oauth-authorization-server/<issuer>")
def authorization_server_metadata(issuer: str):
    """RFC 8414 3: the metadata of the issuer ``<base>/<issuer>`` at the well-known URI built by
    inserting ``/.well-known/oauth-authorization-server`` before the issuer's path (served
    when the providers are at the root of their host)."""
    if issuer not in ISSUERS:
        abort(404)
    return cacheable(jsonify(discovery_document(issuer)), DISCOVERY_MAX_AGE)


@bp.get("/jwks.json")
def jwks():
    return cacheable(jsonify(public_jwks(g.issuer)), JWKS_MAX_AGE)
