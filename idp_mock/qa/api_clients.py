"""The QA control API's clients: register the relying parties a QA team brings
(``/<issuer>/qa/clients``; the token check is in ``api.py``). Confidential clients (a secret,
generated when none is given) and public ones (SPA, native app: no secret, PKCE only). The
configured clients (Partner Center's own) cannot be changed or deleted here."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import current_app
from flask import g
from flask import jsonify

from ..models import OAuth2Client
from ..models import db
from ..services import register_qa_client
from .api import ApiError
from .api import issuer_api
from .api import json_body
from .api import string_field

CLIENT_FIELDS = {"client_id", "client_name", "client_secret", "public", "redirect_uris",
                 "post_logout_redirect_uris", "scope", "require_nonce", "always_ask_consent",
                 "token_endpoint_auth_method"}
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
# Schemes a browser runs or reads locally: never a place to send a code to.
REFUSED_SCHEMES = {"javascript", "data", "vbscript", "file", "blob", "about"}
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9._~-]{1,48}")
SCOPE_RE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*")


def client_to_dict(client: OAuth2Client) -> dict:
    return {
        "issuer": client.issuer,
        "client_id": client.client_id,
        "client_name": client.client_name,
        "public": client.is_public,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "require_nonce": client.require_nonce,
        "always_ask_consent": client.always_ask_consent,
        "discovery_url": f"{current_app.config['IDP_PUBLIC_URL'].rstrip('/')}/{client.issuer}"
                         "/.well-known/openid-configuration",
    }


def _configured(client_id: str) -> bool:
    return any(entry.get("issuer") == g.issuer and entry.get("client_id") == client_id
               for entry in current_app.config["IDP_CLIENTS"])


def _bool(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(f"'{key}' must be true or false.", key)
    return value


def _uris(data: dict, key: str, required: bool) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or (required and not value) or len(value) > 20:
        raise ApiError(f"'{key}' must be a list of 1 to 20 absolute URIs." if required
                       else f"'{key}' must be a list of at most 20 absolute URIs.", key)
    for index, uri in enumerate(value):
        # Absolute, without fragment (RFC 6749 3.1.2); native apps' own schemes are fine
        # (RFC 8252 7.1), those a browser would run or read locally are not.
        parts = urlsplit(uri) if isinstance(uri, str) else None
        if (parts is None or not parts.scheme or parts.fragment or len(uri) > 2000
                or parts.scheme.lower() in REFUSED_SCHEMES
                or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri)
                or (parts.scheme in ("http", "https") and not parts.netloc)):
            raise ApiError(f"'{key}[{index}]' must be an absolute URI without a fragment "
                           "(not javascript:, data:, file:…).", f"{key}[{index}]")
    return value


def _client_or_404(client_id: str) -> OAuth2Client:
    client = db.session.scalar(db.select(OAuth2Client).filter_by(issuer=g.issuer,
                                                                 client_id=client_id))
    if client is None:
        raise ApiError("No client with this id at this issuer.", "client_id", 404)
    return client


@issuer_api.post("/clients")
def clients_register():
    data = json_body(CLIENT_FIELDS)
    client_id = string_field(data, "client_id", required=True, max_len=48)
    if not CLIENT_ID_RE.fullmatch(client_id):
        raise ApiError("'client_id' may hold letters, digits and . _ ~ - only.", "client_id")
    if _configured(client_id):
        raise ApiError("This client is configured (Partner Center's own): it cannot be "
                       "changed here.", "client_id")
    method = data.get("token_endpoint_auth_method")
    if method is not None and method not in AUTH_METHODS:
        raise ApiError(f"'token_endpoint_auth_method' must be one of {', '.join(AUTH_METHODS)}.",
                       "token_endpoint_auth_method")
    public = _bool(data, "public") or method == "none"
    secret = string_field(data, "client_secret", max_len=200, min_len=16)
    if public and secret:
        field = "token_endpoint_auth_method" if method == "none" else "client_secret"
        raise ApiError("A public client (token_endpoint_auth_method none) has no secret.", field)
    generated = not public and not secret
    if generated:
        secret = secrets.token_urlsafe(32)
    scope = string_field(data, "scope", max_len=500)
    if scope is not None and not SCOPE_RE.fullmatch(scope):
        raise ApiError("'scope' must be scope names separated by single spaces.", "scope")
    client = register_qa_client(
        g.issuer, client_id, _uris(data, "redirect_uris", required=True),
        client_name=string_field(data, "client_name", max_len=100),
        client_secret=secret, public=public,
        post_logout_redirect_uris=_uris(data, "post_logout_redirect_uris", required=False),
        scope=scope, require_nonce=_bool(data, "require_nonce"),
        always_ask_consent=_bool(data, "always_ask_consent"),
        token_endpoint_auth_method=None if public else method)
    db.session.commit()
    body = client_to_dict(client)
    if generated:
        body["client_secret"] = secret  # shown once: only its digest is stored
    return jsonify(body), 201


@issuer_api.get("/clients/<client_id>")
def clients_get(client_id: str):
    return jsonify(client_to_dict(_client_or_404(client_id)))


@issuer_api.delete("/clients/<client_id>")
def clients_delete(client_id: str):
    if _configured(client_id):
        raise ApiError("This client is configured (Partner Center's own): it cannot be "
                       "deleted here.", "client_id")
    db.session.delete(_client_or_404(client_id))
    db.session.commit()
    return jsonify({"deleted": client_id})
