"""The relying parties registered with the providers: configured at start, their origins."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError

from common.security_headers import origins

from .config import ISSUERS
from .keys import get_active_signing_key
from .models import OAuth2Client
from .models import db
from .services import upsert_client


def client_origins() -> list[str]:
    """Origins of every registered redirect URI: a provider's forms end up there (the consent
    form posts to /authorize, which redirects to the client). Read per page: clients can be
    added at run time with the CLI."""
    uris = []
    for client in db.session.scalars(db.select(OAuth2Client).order_by(OAuth2Client.id)):
        uris += client.redirect_uris + client.post_logout_redirect_uris
    return origins(uris)


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
