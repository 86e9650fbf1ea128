"""LearnLink "Partner Center" webapp: work sign-in and learning-account linking."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from common.request_hardening import RowIdConverter, init_request_hardening
from common.request_log import init_request_log
from common.security_headers import init_security_headers, origins
from common.sqlite import tune_sqlite

from .config import INSTANCE_DIR, REPO_ROOT, Config
from .extensions import csrf, db, login_manager, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    configure_app(app, test_config)
    configure_extensions(app)
    configure_languages(app)
    configure_blueprints(app)
    configure_template_helpers(app)
    configure_security(app)
    configure_database(app)
    return app


def configure_app(app: Flask, test_config: dict | None) -> None:
    # Before any blueprint is registered: every <int:...> rule binds to the bounded converter.
    app.url_map.converters["int"] = RowIdConverter
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    if app.config.get("TRUSTED_PROXY_COUNT"):
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Concurrent flows wait for SQLite's write lock instead of failing at once; a wait
        # that still times out becomes a clean refusal in linking.service.associate_account.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {"timeout": 15, **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def configure_extensions(app: Flask) -> None:
    from .linking.oidc import init_oauth

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    init_request_log(app, db, service="webapp")
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    init_oauth(app)


def configure_languages(app: Flask) -> None:
    from .i18n import init_i18n

    init_i18n(app)


def configure_blueprints(app: Flask) -> None:
    from . import models  # noqa: F401  (the models must be known to the migrations)
    from . import skilling_summary, user_summary  # noqa: F401  (keep the report counts exact)
    from .admin.routes import bp as admin_bp
    from .audit.routes import bp as audit_bp
    from .auth.routes import bp as auth_bp
    from .cli import bp as cli_bp
    from .demo.routes import bp as demo_bp
    from .errors.handlers import bp as errors_bp
    from .linking.routes import bp as linking_bp
    from .profile.routes import bp as profile_bp
    from .reports.routes import bp as reports_bp
    from .traces.routes import bp as traces_bp

    for bp in (auth_bp, profile_bp, linking_bp, errors_bp, traces_bp, demo_bp, reports_bp,
               admin_bp, audit_bp, cli_bp):
        app.register_blueprint(bp)


def configure_template_helpers(app: Flask) -> None:
    from .template_helpers import register_template_helpers

    register_template_helpers(app)


def provider_origins(config) -> list[str]:
    """Origins of the providers' discovery URLs: the linking forms end up there."""
    return origins(config.get(key) or "" for key in (
        "LEARN_OIDC_DISCOVERY_URL", "PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL"))


def configure_security(app: Flask) -> None:
    form_action = provider_origins(app.config)
    init_security_headers(app, form_action_origins=lambda: form_action,
                          no_store_endpoints=("linking.callback", "auth.login"))
    init_request_hardening(app)


def configure_database(app: Flask) -> None:
    with app.app_context():
        tune_sqlite(db.engine)
        # The schema comes from the migrations (`flask --app webapp db upgrade`); tests may
        # ask for the quick path of creating the tables straight from the models.
        if app.config.get("CREATE_TABLES_WITHOUT_MIGRATIONS"):
            db.create_all()
            # As the migration does: the Skilling metrics of the data file are kept.
            from .reports.skilling_points import skilling_points_config
            from .skilling_summary import sync_metrics

            with db.engine.begin() as connection:
                sync_metrics(connection, skilling_points_config())
