"""The relying parties registered with the providers: configured at start; the origin a page's
forms may lead to."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from flask import Flask, g, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError

from common.security_headers import origins

from .config import ISSUERS
from .keys import get_active_signing_key
from .oauth2 import get_server
from .models import db
from .services import upsert_client


def authorization_request_origins() -> list[str]:
    """The one origin outside the provider that a page's forms may end up at: the redirect URI
    of the authorization request the page belongs to, once its client has registered it (the
    consent form, and the sign-in form inside an authorization request, post to /authorize,
    which redirects to the client). Every other page's forms stay on the provider.

    The request is the page's own (``/<issuer>/authorize?…``) or the one the sign-in page
    returns to (``/<issuer>/signin?next=/<issuer>/authorize?…``). Its client was already read
    by the authorization server in this request (cached per request), so this costs no query.
    """
    issuer = g.get("issuer")
    if not issuer or request.endpoint == "static":
        return []
    args = request.args
    if "client_id" not in args and args.get("next", "").startswith(f"/{issuer}/authorize?"):
        args = dict(parse_qsl(urlsplit(args["next"]).query))
    client_id = args.get("client_id")
    if not client_id or any(ord(ch) < 0x20 for ch in client_id + args.get("redirect_uri", "")):
        # No registered client or redirect URI holds a control character (the request was
        # refused; PostgreSQL cannot even compare a NUL).
        return []
    client = get_server().query_client(client_id)
    if client is None:
        return []
    redirect_uri = args.get("redirect_uri") or client.get_default_redirect_uri()
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        return []
    return origins([redirect_uri])


def register_configured_clients(app: Flask) -> None:
    """Store the configured clients and make sure every issuer has a signing key.

    Skipped while the schema is missing (e.g. during `flask db upgrade` itself). Every
    worker of a multi-process server runs this at start: a concurrent insert of the same
    client or key loses on the unique constraint and simply runs again as an update.
    """
    try:
        schema_ready = sa_inspect(db.engine).has_table("idp_oauth2_clients")
    except OperationalError as exc:
        # Start anyway: /readyz reports the database, the next start registers the clients.
        app.logger.error("Database unreachable at start (%s): clients not registered.",
                         type(exc).__name__)
        return
    if not schema_ready:
        # Expected during `flask db upgrade` itself (a first run): not worth a line of output.
        app.logger.debug("No tables yet (`flask --app idp_mock db upgrade` creates them): "
                         "the configured clients are registered at the next start.")
        return
    for entry in app.config["IDP_CLIENTS"]:
        if entry.get("issuer") not in ISSUERS:
            raise ValueError(f"Unknown issuer in client configuration: {entry!r}"[:200])
    for attempt in range(3):
        try:
            for entry in app.config["IDP_CLIENTS"]:
                upsert_client(entry)
            db.session.commit()
            break
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
    for slug in ISSUERS:
        get_active_signing_key(slug)
    db.session.remove()
