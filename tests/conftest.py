"""Shared fixtures: a live provider server for the session, a fresh webapp database per test."""
from __future__ import annotations

import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.browser import WEBAPP_ORIGIN, Browser
from tests.qa_control import control_token
from tests.databases import TEST_DATABASE_URL, TEST_IDP_DATABASE_URL, empty_tables

FAST_HASH = "pbkdf2:sha256:1000"  # test-only: production keeps scrypt


TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def compile_catalogs() -> None:
    """Compile each .po to .mo when it is missing or older, as scripts/setup.sh does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in TRANSLATIONS.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with open(po, "rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        # Written aside then renamed: a parallel test run never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, mo)


@pytest.fixture(scope="session", autouse=True)
def compiled_translations():
    """The catalogs are not committed as binaries; a direct pytest run compiles them first."""
    compile_catalogs()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, app, port: int):
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()


def webapp_clients(webapp_origin: str = WEBAPP_ORIGIN) -> list[dict]:
    common = {"scope": "openid profile email transcript.read",
              "grant_types": ["authorization_code", "client_credentials"],
              "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
              "client_name": "Partner Center",
              "post_logout_redirect_uris": [webapp_origin + "/profile"]}
    return [
        {**common, "issuer": "learn", "client_id": "partner-center-learn",
         "client_secret": "test-learn-secret",
         "redirect_uris": [webapp_origin + "/link/learn/callback"]},
        {**common, "issuer": "partner-university", "client_id": "partner-center-pu",
         "client_secret": "test-pu-secret",
         "redirect_uris": [webapp_origin + "/link/partner-university/callback"]},
    ]


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    """Both mock providers on a live loopback port for the whole test session."""
    import idp_mock
    from idp_mock.demo import seed_demo

    port = _free_port()
    db_path = tmp_path_factory.mktemp("idp") / "idp.sqlite"
    database_url = TEST_IDP_DATABASE_URL or f"sqlite:///{db_path}"
    if TEST_IDP_DATABASE_URL:  # a shared server: start from an empty schema
        _drop_tables(database_url)
    app = idp_mock.create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
        # One provider for the whole session, every test from 127.0.0.1: the providers' own
        # sign-in throttling is tested on providers of their own (test_provider_sessions.py).
        "LOGIN_MAX_FAILURES_PER_ADDRESS": 10**6,
        "IDP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WEBAPP_URL": WEBAPP_ORIGIN,
        "IDP_CLIENTS": webapp_clients(),
        "IDP_PASSWORD_HASH": FAST_HASH,
        "IDP_QA_MODE": True,
        "IDP_CONTROL_TOKEN": control_token(),
    })
    with app.app_context():
        seed_demo()
    server = LiveServer(app, port).start()
    yield server
    server.stop()


def webapp_config(idp_url: str, database_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "IDP_PUBLIC_URL": idp_url,
        "LEARN_OIDC_DISCOVERY_URL": f"{idp_url}/learn/.well-known/openid-configuration",
        "LEARN_CLIENT_ID": "partner-center-learn",
        "LEARN_CLIENT_SECRET": "test-learn-secret",
        "PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL": f"{idp_url}/partner-university/.well-known/openid-configuration",
        "PARTNER_UNIVERSITY_CLIENT_ID": "partner-center-pu",
        "PARTNER_UNIVERSITY_CLIENT_SECRET": "test-pu-secret",
        "OIDC_HTTP_TIMEOUT": 5,
        # The installation operator, as scripts/run.sh names it for the demo.
        "OPERATORS": frozenset({"gloria.global@contoso.com"}),
        # Tests build the schema straight from the models (tests/test_migrations.py checks
        # that the migrations build the same one).
        "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
    }


def _drop_tables(database_url: str) -> None:
    """Drop every table, including those of an earlier run with an older schema."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        existing = sa.MetaData()
        existing.reflect(conn)
        existing.drop_all(conn)
    engine.dispose()


@pytest.fixture(scope="session")
def shared_webapp_schema():
    """On a shared server the tables are created once; each test then empties them."""
    if TEST_DATABASE_URL:
        _drop_tables(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture
def app(idp, tmp_path, shared_webapp_schema):
    """A webapp with a fresh database (and the demo organizations and users) per test.

    SQLite: a new file per test. PostgreSQL: the tables are created once per session and
    emptied (TRUNCATE … RESTART IDENTITY CASCADE) before each test.
    """
    from webapp import create_app
    from webapp.demo.seed import seed_demo
    from webapp.extensions import db

    database_url = shared_webapp_schema or f"sqlite:///{tmp_path / 'webapp.sqlite'}"
    app = create_app(webapp_config(idp.url, database_url))
    with app.app_context():
        if shared_webapp_schema:
            empty_tables(db)
        # Organizations and users only: each test makes the links it needs
        # (tests/test_demo_links.py covers the demo links).
        seed_demo(with_links=False)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
