"""Configuration of the mock identity providers, read from the environment.

Every value can be overridden by the ``test_config`` mapping passed to
:func:`idp_mock.create_app`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask_babel import lazy_gettext as _l

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The issuers served by this app: URL slug -> static description.
ISSUERS: dict[str, dict[str, str]] = {
    "learn": {
        "name": _l("Microsoft Learn"),
        "theme": "learn",
        "default_client_id": "partner-center-learn",
    },
    "partner-university": {
        "name": _l("Partner University"),
        "theme": "partner-university",
        "default_client_id": "partner-center-pu",
    },
}


SCOPES_SUPPORTED = ["openid", "profile", "email", "offline_access", "transcript.read"]


def default_clients(webapp_url: str) -> list[dict]:
    """The two relying-party clients of the LearnLink webapp."""
    webapp_url = webapp_url.rstrip("/")
    common = {
        "scope": "openid profile email transcript.read",
        "grant_types": ["authorization_code", "client_credentials"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "post_logout_redirect_uris": [webapp_url + "/profile"],
        # Partner Center always sends a nonce: a request without one is refused.
        "require_nonce": True,
    }
    return [
        {
            **common,
            "issuer": "learn",
            "client_id": "partner-center-learn",
            "client_secret": os.environ.get("LEARN_CLIENT_SECRET", "dev-learn-secret"),
            "client_name": "Partner Center",
            "redirect_uris": [webapp_url + "/link/learn/callback"],
        },
        {
            **common,
            "issuer": "partner-university",
            "client_id": "partner-center-pu",
            "client_secret": os.environ.get(
                "PARTNER_UNIVERSITY_CLIENT_SECRET", "dev-pu-secret"
            ),
            "client_name": "Partner Center",
            "redirect_uris": [webapp_url + "/link/partner-university/callback"],
        },
    ]


def load_clients_from_env() -> list[dict] | None:
    """Clients from ``IDP_CLIENTS_FILE`` or ``IDP_CLIENTS``; None when unset."""
    path = os.environ.get("IDP_CLIENTS_FILE")
    if path:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    raw = os.environ.get("IDP_CLIENTS")
    if raw:
        return json.loads(raw)
    return None


def config_from_env() -> dict:
    instance_db = REPO_ROOT / "instance" / "idp.sqlite"
    return {
        "SECRET_KEY": os.environ.get("IDP_SECRET_KEY", "dev-idp-secret-key-change-me"),
        "SESSION_COOKIE_NAME": "idp_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Set when the providers are served over HTTPS.
        "SESSION_COOKIE_SECURE": os.environ.get("IDP_SESSION_COOKIE_SECURE",
                                                os.environ.get("SESSION_COOKIE_SECURE", ""))
        .strip().lower() in {"1", "true", "yes", "on"},
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "IDP_DATABASE_URL", f"sqlite:///{instance_db}"
        ),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "IDP_PUBLIC_URL": os.environ.get("IDP_PUBLIC_URL", "http://localhost:5001"),
        "WEBAPP_URL": os.environ.get("WEBAPP_URL", "http://127.0.0.1:5000"),
        # None means "use the default webapp clients"; resolved in create_app.
        "IDP_CLIENTS": load_clients_from_env(),
        "IDP_PASSWORD_HASH": os.environ.get("IDP_PASSWORD_HASH", "scrypt"),
        # Authorization codes are single use and live for 60 seconds.
        "AUTHORIZATION_CODE_EXPIRES_IN": 60,
        "ID_TOKEN_EXPIRES_IN": 3600,
        "OAUTH2_SCOPES_SUPPORTED": SCOPES_SUPPORTED,
        "OAUTH2_TOKEN_EXPIRES_IN": {
            "authorization_code": 3600,
            "client_credentials": 3600,
            "refresh_token": 3600,
        },
        # Seconds a refresh token stays usable from its issue (each use rotates it).
        "IDP_REFRESH_TOKEN_EXPIRES_IN": int(
            os.environ.get("IDP_REFRESH_TOKEN_EXPIRES_IN", str(30 * 24 * 3600))
        ),
        # Bearer token of the QA control API (/qa/...); the API is off while it is unset.
        "IDP_CONTROL_TOKEN": os.environ.get("IDP_CONTROL_TOKEN") or None,
        # Seconds a rotated-out signing key stays in the JWKS.
        "IDP_KEY_ROTATION_GRACE_SECONDS": int(
            os.environ.get("IDP_KEY_ROTATION_GRACE_SECONDS", "86400")
        ),
        # QA/demo mode: the "Test scenario" panel and the JSON control API. Off unless
        # configured (scripts/run.sh turns it on for the trainer/QA demo).
        "IDP_QA_MODE": os.environ.get("IDP_QA_MODE", "").strip().lower()
        in ("1", "true", "yes", "on"),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(REPO_ROOT / "translations"),
        "WTF_CSRF_ENABLED": True,
    }
