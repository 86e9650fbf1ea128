"""LearnLink "Partner Center" webapp: work sign-in and learning-account linking."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, request
from flask_babel import Babel
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from observability import init_observability
from sqlite_tuning import tune_sqlite

from .config import INSTANCE_DIR, REPO_ROOT, Config
from .extensions import csrf, db, login_manager, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# The largest row id both databases store: the id columns are INTEGER, 32-bit on PostgreSQL
# ("integer out of range" past it) and 64-bit on SQLite (OverflowError past 2^63). A bigger id
# in a URL must never reach a query.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` for the whole app: an id past MAX_ROW_ID does not match the route (404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        bound = MAX_ROW_ID if max is None or max > MAX_ROW_ID else max
        super().__init__(map, fixed_digits, min, bound, signed)


def provider_origins(config) -> list[str]:
    """Origins of the providers' discovery URLs: the linking forms end up there."""
    origins = []
    for key in ("LEARN_OIDC_DISCOVERY_URL", "PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL"):
        parts = urlsplit(config.get(key) or "")
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return origins


def content_security_policy(config) -> str:
    # form-action is checked by browsers on every redirect that follows a form submission
    # (CSP3 "navigation request" check): "Associate" posts here, then 302s to a provider,
    # so the providers' origins must be listed or the browser blocks the flow.
    form_action = " ".join(["'self'", *provider_origins(config)])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action {form_action}")


def add_security_headers(app: Flask) -> None:
    policy = content_security_policy(app.config)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint in ("linking.callback", "auth.login"):
            response.headers["Cache-Control"] = "no-store"
        return response


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
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

    import log_redaction
    log_redaction.install()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    init_observability(app, db, service="webapp")
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    from .i18n import init_i18n, select_locale
    Babel(app, locale_selector=select_locale)
    init_i18n(app)

    from .linking.oidc import init_oauth
    init_oauth(app)

    # Before any blueprint is registered: every <int:...> rule binds to the bounded converter.
    app.url_map.converters["int"] = RowIdConverter

    from . import models  # noqa: F401  (the models must be known to the migrations)
    from .auth.routes import bp as auth_bp
    from .profile.routes import bp as profile_bp
    from .linking.routes import bp as linking_bp
    from .errors.handlers import bp as errors_bp
    from .traces.routes import bp as traces_bp
    from .demo_guide.routes import bp as demo_bp
    from .reports.routes import bp as reports_bp
    from .admin.routes import bp as admin_bp
    from .audit.routes import bp as audit_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(profile_bp)
    app.register_blueprint(linking_bp)
    app.register_blueprint(errors_bp)
    app.register_blueprint(traces_bp)
    app.register_blueprint(demo_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(audit_bp)

    from .cli import register_cli
    register_cli(app)

    from .template_helpers import register_template_helpers
    register_template_helpers(app)
    add_security_headers(app)

    import raw_query
    raw_query.install(app)

    with app.app_context():
        tune_sqlite(db.engine)
        # The schema comes from the migrations (`flask --app webapp db upgrade`); tests may
        # ask for the quick path of creating the tables straight from the models.
        if app.config.get("CREATE_TABLES_WITHOUT_MIGRATIONS"):
            db.create_all()
    return app
