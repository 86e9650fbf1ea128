"""LearnLink mock OpenID Connect providers: Microsoft Learn and Partner University.

One Flask app serves both issuers under ``/learn`` and ``/partner-university``.
"""

from __future__ import annotations

import json
import os
from functools import cache
from functools import lru_cache
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import Flask
from flask import g
from flask import has_request_context
from flask import request
from flask import session
from flask_babel import Babel
from flask_babel import get_locale
from flask_migrate import Migrate
from flask_wtf import CSRFProtect
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from werkzeug.routing import IntegerConverter

from observability import init_observability
from page_catalog import WTFORMS_MESSAGES
from page_catalog import install_jinja_gettext
from sqlite_tuning import tune_sqlite

from .config import ISSUERS
from .config import REPO_ROOT
from .config import SUPPORTED_LOCALES
from .config import config_from_env
from .models import db
from .config import default_clients

__all__ = ["create_app", "ISSUERS"]

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
# Batch mode lets SQLite apply ALTER TABLE steps by copying the table.
migrate = Migrate(render_as_batch=True, compare_type=True)
# Every POST needs a CSRF token, except the endpoints listed in routes.CSRF_EXEMPT_ENDPOINTS.
csrf = CSRFProtect()

_LANG_ALIASES = {
    "en": "en", "fr": "fr",
    "zh_hant_tw": "zh_Hant_TW", "zh-hant-tw": "zh_Hant_TW", "zh_tw": "zh_Hant_TW",
    "zh-tw": "zh_Hant_TW", "zh-hant": "zh_Hant_TW", "zh_hant": "zh_Hant_TW",
}
LANG_SESSION_KEY = "lang"


def supported_locale(tag: str | None) -> str | None:
    """The supported locale for a language tag (``fr``, ``fr-CA``, ``zh-TW``...), else None."""
    key = (tag or "").strip().lower()
    if key in _LANG_ALIASES:
        return _LANG_ALIASES[key]
    if key.startswith("zh"):
        return "zh_Hant_TW"  # the only Chinese offered
    return _LANG_ALIASES.get(key.split("-")[0].split("_")[0])


def select_locale() -> str | None:
    """``?lang=`` (the switcher), the client's OIDC ``ui_locales``, the provider session, the browser."""
    if not has_request_context():
        return None  # CLI commands: the default locale (English)
    chosen = supported_locale(request.args.get("lang"))
    if chosen:
        return chosen
    for tag in (request.args.get("ui_locales") or "").split():
        if supported_locale(tag):
            return supported_locale(tag)
    if session.get(LANG_SESSION_KEY) in SUPPORTED_LOCALES:
        return session[LANG_SESSION_KEY]
    for value, _quality in request.accept_languages:
        if supported_locale(value):
            return supported_locale(value)
    return "en"


def remember_requested_locale() -> None:
    """The switcher's choice is kept in the provider session (both issuers share it)."""
    chosen = supported_locale(request.args.get("lang"))
    if chosen:
        session[LANG_SESSION_KEY] = chosen


def wtforms_messages() -> None:
    """WTForms' messages in the page's language, each catalog read once per process (Flask-WTF
    would read it per request; and for zh_Hant_TW fall back to WTForms' Simplified zh)."""
    request.wtforms_translations = WTFORMS_MESSAGES


def language_switch_url(code: str) -> str:
    """This page's URL with ``lang`` set to ``code`` (the authorize request's parameters kept)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return f"{request.path}?{urlencode(args + [('lang', code)])}"
def content_security_policy() -> str:
    """No inline script; forms may only end up here or at a registered client.

    Browsers check form-action on the redirects that follow a form submission too: the
    consent form posts to /authorize, which redirects to the client's redirect_uri, so
    the origins of the registered redirect URIs are listed (read per request: clients can
    be added at run time with the CLI). Read once per request.
    """
    from .models import db

    policy = g.get("content_security_policy")
    if policy is None:
        metadata = tuple(db.session.execute(_client_metadata_stmt()).scalars())
        policy = g.content_security_policy = _policy_for_clients(metadata)
    return policy


@cache
def _client_metadata_stmt():
    """Every client's stored metadata (JSON text), in table order; built once."""
    from .models import OAuth2Client
    from .models import db

    return db.select(OAuth2Client.__table__.c.client_metadata)


@lru_cache(maxsize=16)
def _policy_for_clients(client_metadata: tuple[str | None, ...]) -> str:
    """The policy for these clients' stored metadata: computed once per set of clients."""
    origins = ["'self'"]
    for raw in client_metadata:
        data = json.loads(raw) if raw else {}
        for uri in data.get("redirect_uris", []) + data.get("post_logout_redirect_uris", []):
            parts = urlsplit(uri)
            origin = f"{parts.scheme}://{parts.netloc}"
            if parts.scheme in ("http", "https") and parts.netloc and origin not in origins:
                origins.append(origin)
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
            f"form-action {' '.join(origins)}")


class StoredIntegerConverter(IntegerConverter):
    """``<int:…>`` route variables only match integers an ``Integer`` column can hold (32-bit
    on PostgreSQL): a larger one is no such page (404), not an overflow in the driver (500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
        instance_path=str(REPO_ROOT / "instance"),
    )
    app.url_map.converters["int"] = StoredIntegerConverter
    app.config.update(config_from_env())
    if test_config:
        app.config.update(test_config)
    if isinstance(app.config.get("IDP_CLIENTS"), str):
        app.config["IDP_CLIENTS"] = json.loads(app.config["IDP_CLIENTS"])
    if app.config.get("IDP_CLIENTS") is None:
        app.config["IDP_CLIENTS"] = default_clients(app.config["WEBAPP_URL"])

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        os.makedirs(os.path.dirname(uri[len("sqlite:///"):]) or ".", exist_ok=True)

    import log_redaction
    from .models import db

    log_redaction.install()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    init_observability(app, db, service="idp")
    csrf.init_app(app)
    Babel(app, locale_selector=select_locale)
    install_jinja_gettext(app)
    app.before_request(remember_requested_locale)
    app.before_request(wtforms_messages)

    from .oauth2 import init_oauth

    init_oauth(app)

    from .routes import CSRF_EXEMPT_ENDPOINTS
    from .routes import bp
    from .routes import root
    from .qa_reset import qa

    for view_location in CSRF_EXEMPT_ENDPOINTS:
        csrf.exempt(view_location)
    # The QA control API is JSON for scripts and the webapp, authenticated by a bearer token
    # (IDP_CONTROL_TOKEN) that a cross-site form cannot send: no CSRF token.
    csrf.exempt(qa)
    app.register_blueprint(root)
    app.register_blueprint(qa)
    app.register_blueprint(bp)

    from .qa import register_qa

    register_qa(app)

    from .cli import register_cli

    register_cli(app)

    @app.context_processor
    def inject_issuer():
        slug = g.get("issuer")
        return {
            "issuer_slug": slug,
            "issuer_name": ISSUERS[slug]["name"] if slug else None,
            "current_language": str(get_locale()),
            "languages": SUPPORTED_LOCALES,
            "language_switch_url": language_switch_url,
        }

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", content_security_policy())
        if request.path.endswith(("/authorize", "/token", "/userinfo")):
            response.headers["Cache-Control"] = "no-store"
        return response

    import raw_query
    raw_query.install(app)

    with app.app_context():
        tune_sqlite(db.engine)
        # The schema comes from the migrations (`flask --app idp_mock db upgrade`); tests
        # may ask for the quick path of creating the tables straight from the models.
        if app.config.get("CREATE_TABLES_WITHOUT_MIGRATIONS"):
            db.create_all()
        register_configured_clients(app)

    from .qa import exempt_from_csrf

    exempt_from_csrf(app)
    return app


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
        app.logger.info("No tables yet (`flask --app idp_mock db upgrade` creates them): "
                        "the configured clients are registered at the next start.")
        return
    from .keys import get_active_signing_key
    from .services import upsert_client

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
