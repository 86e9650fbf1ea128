"""Shared fixtures: a live provider server for the session, a fresh webapp database per test."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.browser import WEBAPP_ORIGIN, Browser
from tests.fixtures.databases import (TEST_DATABASE_URL, TEST_IDP_DATABASE_URL, drop_tables,
                                      keep_seeded_rows)
from tests.fixtures.qa_control import ControlAPI, control_token
from tests.fixtures.servers import (FAST_HASH, LiveServer, close_webapp, free_port, webapp_clients,
                                    webapp_config, webapp_on_seeded_copy)

# Fixture modules shared by several folders: the scripted OpenID provider, migrated databases,
# the demo servers with a control API.
pytest_plugins = ["tests.fixtures.oidc_stub", "tests.fixtures.migrations", "tests.fixtures.demo_servers"]

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


@pytest.fixture(scope="session", autouse=True)
def template_bytecode_cache(tmp_path_factory):
    """Each test creates its apps, which compiled the same templates again: 12% of the suite's
    CPU. Jinja's own bytecode cache keeps the compiled code (keyed by the template's source, so
    an edited template is compiled anew) for every app made in this session."""
    from flask import Flask
    from jinja2 import FileSystemBytecodeCache

    cache = FileSystemBytecodeCache(str(tmp_path_factory.mktemp("jinja-bytecode")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": cache})
        yield


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    """Both mock providers on a live loopback port for the whole test session."""
    import idp_mock
    from idp_mock.demo import seed_demo

    port = free_port()
    db_path = tmp_path_factory.mktemp("idp") / "idp.sqlite"
    database_url = TEST_IDP_DATABASE_URL or f"sqlite:///{db_path}"
    if TEST_IDP_DATABASE_URL:  # a shared server: start from an empty schema
        drop_tables(database_url)
    app = idp_mock.create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
        # One provider for the whole session, every test from 127.0.0.1: the providers' own
        # sign-in throttling is tested on providers of their own (tests/idp/test_sessions.py).
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


@pytest.fixture
def control(idp):
    """The session provider's QA control API; every scenario a test armed is cleared after it."""
    api = ControlAPI(idp.url)
    yield api
    for issuer in ("learn", "partner-university"):
        api.clear(issuer)


@pytest.fixture(scope="session")
def seeded_webapp_database(idp, tmp_path_factory):
    """The demo organizations and users, seeded once per session (each test then starts from a
    copy: seeding, with its checks on every user, cost 50 ms a test).

    SQLite: a seeded file that each test copies. PostgreSQL (shared server): the tables are
    created and seeded once, their rows kept aside (tests/fixtures/databases.py) and put back
    before each test. Returns the seeded database's URL, which
    tests/fixtures/servers.py::webapp_on_seeded_copy starts each test's webapp from.
    """
    from webapp import create_app
    from webapp.demo.seed import seed_demo
    from webapp.extensions import db

    if TEST_DATABASE_URL:
        drop_tables(TEST_DATABASE_URL)
        database_url = TEST_DATABASE_URL
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('webapp-seed') / 'webapp.sqlite'}"
    app = create_app(webapp_config(idp.url, database_url))
    with app.app_context():
        # Organizations and users only: each test makes the links it needs
        # (tests/webapp/test_demo.py covers the demo links).
        seed_demo(with_links=False)
        if TEST_DATABASE_URL:
            keep_seeded_rows(db)
        db.session.remove()
        db.engine.dispose()  # SQLite: the last connection folds the write-ahead log into the file
    return database_url


@pytest.fixture
def webapp_with(idp, tmp_path, seeded_webapp_database):
    """Makes a webapp with a fresh database (the demo organizations and users) and the test
    configuration, changed by the given keys; each is closed after the test.

    SQLite: a new file per test, a copy of the session's seeded one. PostgreSQL: the seeded rows
    put back, and only them.
    """
    made = []

    def make(**overrides):
        made.append(webapp_on_seeded_copy({**webapp_config(idp.url, ""), **overrides},
                                          seeded_webapp_database, tmp_path))
        return made[-1]

    yield make
    for app in made:
        close_webapp(app)


@pytest.fixture
def app(webapp_with):
    """A webapp with a fresh database (and the demo organizations and users) per test."""
    return webapp_with()


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
