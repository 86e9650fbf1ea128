"""The QA control API's clients: register a relying party of a QA team's own at one issuer
(``/<issuer>/qa/clients``; the token check is in ``api.py``), the same entry as ``IDP_CLIENTS``
and ``flask --app idp_mock add-client``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from flask import g
from flask import jsonify

from ..models import OAuth2Client
from ..models import db
from ..services import upsert_client
from .api import ApiError
from .api import issuer_api
from .api import json_body
from .api import string_field

CLIENT_FIELDS = {"client_id", "client_secret", "client_name", "redirect_uris",
                 "post_logout_redirect_uris", "scope", "token_endpoint_auth_method"}
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MAX_URIS = 20


def _uri_list(data: dict, key: str, required: bool) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or (required and not value) or len(value) > MAX_URIS:
        raise ApiError(f"'{key}' must be a list of 1 to {MAX_URIS} absolute http(s) URLs."
                       if required else f"'{key}' must be a list of at most {MAX_URIS} "
                       "absolute http(s) URLs.", key)
    for index, uri in enumerate(value):
        parts = urlsplit(uri) if isinstance(uri, str) and len(uri) <= 2000 else None
        # RFC 6749 3.1.2: absolute, no fragment.
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc \
                or parts.fragment or any(c.isspace() for c in uri):
            raise ApiError(f"'{key}[{index}]' must be an absolute http(s) URL without a "
                           "fragment.", f"{key}[{index}]")
    return value


def _client_to_dict(client: OAuth2Client) -> dict:
    meta = client.client_metadata
    return {"issuer": client.issuer, "client_id": client.client_id,
            "client_name": meta.get("client_name"), "redirect_uris": meta.get("redirect_uris"),
            "post_logout_redirect_uris": meta.get("post_logout_redirect_uris"),
            "scope": meta.get("scope"),
            "token_endpoint_auth_method": meta.get("token_endpoint_auth_method"),
            "discovery_url": f"{current_app.config['IDP_PUBLIC_URL'].rstrip('/')}/{client.issuer}"
                             "/.well-known/openid-configuration"}


@issuer_api.post("/clients")
def clients_register():
    """Register a confidential client (or replace the one with this client_id)."""
    data = json_body(CLIENT_FIELDS)
    entry = {
        "issuer": g.issuer,
        "client_id": string_field(data, "client_id", required=True, max_len=48),
        "client_secret": string_field(data, "client_secret", required=True, min_len=8),
        "client_name": string_field(data, "client_name", max_len=100),
        "redirect_uris": _uri_list(data, "redirect_uris", required=True),
        "post_logout_redirect_uris": _uri_list(data, "post_logout_redirect_uris", required=False),
        "scope": string_field(data, "scope", default="openid profile email transcript.read"),
        "token_endpoint_auth_method": data.get("token_endpoint_auth_method",
                                               "client_secret_basic"),
    }
    if entry["token_endpoint_auth_method"] not in AUTH_METHODS:
        raise ApiError(f"'token_endpoint_auth_method' must be one of {', '.join(AUTH_METHODS)}.",
                       "token_endpoint_auth_method")
    if any(c.isspace() or c in "\"\\" for c in entry["client_id"]):
        raise ApiError("'client_id' must not contain spaces, quotes or backslashes.", "client_id")
    if any(c.get("issuer") == g.issuer and c.get("client_id") == entry["client_id"]
           for c in current_app.config["IDP_CLIENTS"]):
        # Configured clients (Partner Center's) are registered again at every start.
        raise ApiError("'client_id' belongs to a configured client; choose another.", "client_id")
    client = upsert_client(entry)
    db.session.commit()
    return jsonify(_client_to_dict(client)), 201

