"""LearnLink mock OpenID Connect providers: Microsoft Learn and Partner University.

One Flask app serves both issuers under ``/learn`` and ``/partner-university``.
"""

from __future__ import annotations

import json
import os

from flask import Flask
from flask import g

from common.languages import init_languages
from common.languages import remember_requested_language
from common.request_hardening import RowIdConverter
from common.request_hardening import init_request_hardening
from common.request_log import init_request_log
from common.security_headers import init_security_headers
from common.sqlite import tune_sqlite

from . import errors
from . import pages
from . import provider
from .cli import register_cli
from .clients import authorization_request_origins
from .clients import register_configured_clients
from .config import ISSUERS
from .config import REPO_ROOT
from .config import config_from_env
from .config import default_clients
from .extensions import csrf
from .extensions import db
from .extensions import migrate
from .oauth2 import init_oauth
from .qa import register_qa

__all__ = ["create_app", "ISSUERS"]

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
        instance_path=str(REPO_ROOT / "instance"),
    )
    configure_app(app, test_config)
    configure_extensions(app)
    configure_languages(app)
    configure_blueprints(app)
    configure_template_context(app)
    configure_security(app)
    configure_database(app)
    return app


def configure_app(app: Flask, test_config: dict | None) -> None:
    # Before any blueprint is registered: every <int:...> rule binds to the bounded converter.
    app.url_map.converters["int"] = RowIdConverter
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


def configure_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    init_request_log(app, db, service="idp")
    csrf.init_app(app)
    init_oauth(app)
    register_cli(app)


def configure_languages(app: Flask) -> None:
    init_languages(app)
    app.before_request(remember_requested_language)


def configure_blueprints(app: Flask) -> None:
    app.register_blueprint(errors.bp)
    app.register_blueprint(pages.root)
    app.register_blueprint(pages.bp)
    app.register_blueprint(provider.bp)
    register_qa(app)


def configure_template_context(app: Flask) -> None:
    @app.context_processor
    def inject_issuer():
        slug = g.get("issuer")
        return {"issuer_slug": slug, "issuer_name": ISSUERS[slug]["name"] if slug else None}


def configure_security(app: Flask) -> None:
    init_security_headers(app, form_action_origins=authorization_request_origins, no_store_endpoints=(
        "provider.authorize", "provider.issue_token", "provider.userinfo"))
    init_request_hardening(app)


def configure_database(app: Flask) -> None:
    with app.app_context():
        tune_sqlite(db.engine)
        # The schema comes from the migrations (`flask --app idp_mock db upgrade`); tests
        # may ask for the quick path of creating the tables straight from the models.
        if app.config.get("CREATE_TABLES_WITHOUT_MIGRATIONS"):
            db.create_all()
        register_configured_clients(app)
