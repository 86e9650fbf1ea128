"""Configuration read from environment variables (12-factor style).

Every provider setting is plain OIDC: point the webapp at any standards-compliant
provider by changing the discovery URL, client id and secret.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = REPO_ROOT / "instance"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_emails(name: str) -> frozenset[str]:
    return frozenset(e.strip().lower() for e in os.environ.get(name, "").split(",") if e.strip())


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'webapp.sqlite'}"
    )
    # Pooled connections are checked before use: a restarted database server costs no request.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # Number of reverse proxies (load balancer) in front: their X-Forwarded-* headers are trusted
    # so the callback URL sent to the providers has the public scheme and host.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    SESSION_COOKIE_NAME = "pc_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the signed session

    # One catalog set for the webapp and the providers, compiled by scripts/setup.sh.
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_TRANSLATION_DIRECTORIES = str(REPO_ROOT / "translations")

    # Demo mode unlocks the movable clock and the demo reset (for the installation operator).
    DEMO_MODE = _env_bool("DEMO_MODE", True)
    # QA mode: a failed linking flow's message also names the failed check (the flow inspector
    # always does); end users see the message only.
    QA_MODE = _env_bool("QA_MODE", False)
    # The installation operators (trainer, QA lead): work-user emails, comma-separated. Only they
    # move the clock, reset the demo and refresh every organization's data; no one by default.
    OPERATORS = _env_emails("LEARNLINK_OPERATORS")

    # werkzeug hash method; production keeps scrypt, the test suite passes a cheaper one.
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")

    IDP_PUBLIC_URL = os.environ.get("IDP_PUBLIC_URL", "http://localhost:5001")
    LEARN_OIDC_DISCOVERY_URL = os.environ.get(
        "LEARN_OIDC_DISCOVERY_URL", f"{IDP_PUBLIC_URL}/learn/.well-known/openid-configuration"
    )
    LEARN_CLIENT_ID = os.environ.get("LEARN_CLIENT_ID", "partner-center-learn")
    LEARN_CLIENT_SECRET = os.environ.get("LEARN_CLIENT_SECRET", "dev-learn-secret")
    PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL = os.environ.get(
        "PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL",
        f"{IDP_PUBLIC_URL}/partner-university/.well-known/openid-configuration",
    )
    PARTNER_UNIVERSITY_CLIENT_ID = os.environ.get("PARTNER_UNIVERSITY_CLIENT_ID", "partner-center-pu")
    PARTNER_UNIVERSITY_CLIENT_SECRET = os.environ.get(
        "PARTNER_UNIVERSITY_CLIENT_SECRET", "dev-pu-secret"
    )
    # The issuer each discovery document must name (and the ID tokens and RFC 9207 `iss` carry),
    # compared exactly; unset: the discovery URL cut at "/.well-known/".
    LEARN_ISSUER = os.environ.get("LEARN_ISSUER") or None
    PARTNER_UNIVERSITY_ISSUER = os.environ.get("PARTNER_UNIVERSITY_ISSUER") or None
    # Client authentication at the token endpoint (client_secret_basic or client_secret_post);
    # unset: the first of these the provider's discovery advertises.
    LEARN_TOKEN_ENDPOINT_AUTH_METHOD = os.environ.get("LEARN_TOKEN_ENDPOINT_AUTH_METHOD") or None
    PARTNER_UNIVERSITY_TOKEN_ENDPOINT_AUTH_METHOD = (
        os.environ.get("PARTNER_UNIVERSITY_TOKEN_ENDPOINT_AUTH_METHOD") or None)
    # A Learn sign-in without an account_type claim: "refuse" (a generic provider is not taken
    # for a personal Microsoft account) or "personal".
    LEARN_ACCOUNT_TYPE_WHEN_ABSENT = os.environ.get("LEARN_ACCOUNT_TYPE_WHEN_ABSENT", "refuse")
    OIDC_SCOPE = "openid profile email"
    # Seconds the webapp waits on any provider call before telling the user to retry.
    # The whole call: connecting, the headers and the body (a drip-fed answer is cut off then).
    OIDC_HTTP_TIMEOUT = float(os.environ.get("OIDC_HTTP_TIMEOUT", "10"))
    # Bytes a provider's answer may have (discovery, JWKS, token, userinfo, transcript).
    OIDC_HTTP_MAX_BYTES = int(os.environ.get("OIDC_HTTP_MAX_BYTES", str(1024 * 1024)))
    # Seconds a started link flow (its state, nonce and PKCE verifier) stays valid; an attempt
    # still pending after that is closed as abandoned.
    OIDC_STATE_LIFETIME = int(os.environ.get("OIDC_STATE_LIFETIME", "3600"))
    # Seconds a worker reuses a provider's discovery document and JWKS (an unknown kid refetches).
    OIDC_METADATA_MAX_AGE = int(os.environ.get("OIDC_METADATA_MAX_AGE", "3600"))
    # Clock skew tolerated on exp/iat, in seconds.
    OIDC_LEEWAY = int(os.environ.get("OIDC_LEEWAY", "60"))
    # Sign-in throttling (fixed windows, counted in the database so all workers share them).
    LOGIN_MAX_FAILURES_PER_ACCOUNT = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5"))
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "20"))
    LOGIN_THROTTLE_WINDOW_SECONDS = int(os.environ.get("LOGIN_THROTTLE_WINDOW_SECONDS", "900"))
    # At most one forced JWKS refetch per provider in this many seconds (unknown kid).
    OIDC_JWKS_REFETCH_INTERVAL = int(os.environ.get("OIDC_JWKS_REFETCH_INTERVAL", "60"))
    LINK_TRACE_RETENTION_DAYS = int(os.environ.get("LINK_TRACE_RETENTION_DAYS", "30"))
    # The providers' QA control API, called by the demo reset (unset token: providers not reset).
    IDP_CONTROL_URL = os.environ.get("IDP_CONTROL_URL", IDP_PUBLIC_URL)
    IDP_CONTROL_TOKEN = os.environ.get("IDP_CONTROL_TOKEN") or None
    # The data refresh: the daily time (simulated clock, HH:MM) `flask refresh-due` refreshes an
    # organization that set none, the subjects per transcript API call, how long a running job's
    # worker may be silent before another worker takes the job over, how often a learner may
    # refresh their own achievements.
    REFRESH_DAILY_AT = os.environ.get("REFRESH_DAILY_AT", "02:00")
    REFRESH_PAGE_SIZE = int(os.environ.get("REFRESH_PAGE_SIZE", "200"))
    REFRESH_JOB_LEASE_SECONDS = int(os.environ.get("REFRESH_JOB_LEASE_SECONDS", "300"))
    LEARNER_REFRESH_INTERVAL_SECONDS = int(os.environ.get("LEARNER_REFRESH_INTERVAL_SECONDS", "300"))
