"""Databases for tests: SQLite files by default, a real PostgreSQL server when configured.

``TEST_DATABASE_URL`` (webapp) and ``TEST_IDP_DATABASE_URL`` (providers) point at databases
on a PostgreSQL server (``bash scripts/test.sh`` starts a throwaway one). Tests that need a
database of their own (migrations, an extra provider app, the multi-worker run) get a fresh
scratch database on the same server, created here and dropped afterwards.
"""
from __future__ import annotations

import atexit
import os
import re
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_IDP_DATABASE_URL = os.environ.get("TEST_IDP_DATABASE_URL")


def server_url() -> str | None:
    """Any PostgreSQL URL the suite was given, or None when running on SQLite only."""
    return TEST_DATABASE_URL or TEST_IDP_DATABASE_URL


def on_postgresql() -> bool:
    url = server_url()
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(make_url(url), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def create_scratch_database(label: str, tmp_dir: Path) -> str:
    """A new empty database: on the PostgreSQL server if there is one, else a SQLite file."""
    url = server_url()
    if not url:
        return f"sqlite:///{tmp_dir / (label + '.sqlite')}"
    name = "t_" + re.sub(r"[^a-z0-9_]", "_", label.lower())[:40] + "_" + secrets.token_hex(4)
    engine = _admin_engine(url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(scratch_url: str) -> None:
    url = make_url(scratch_url)
    if url.get_backend_name() != "postgresql":
        return
    engine = _admin_engine(server_url())
    with engine.connect() as conn:
        # FORCE: a server thread of a test may still hold a pooled connection.
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    engine.dispose()


def empty_tables(db) -> None:
    """Remove every row and reset the ids: much faster than dropping and creating tables.

    Works on PostgreSQL (TRUNCATE … RESTART IDENTITY CASCADE) and on SQLite (DELETE).
    """
    tables = db.metadata.sorted_tables
    if not tables:
        return
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(table.delete())
    db.session.commit()


_scratch_for_path: dict[str, str] = {}


def _database_for_path(sqlite_path: Path, on_server: bool, label: str) -> str:
    if not on_server:
        return f"sqlite:///{sqlite_path}"
    key = str(sqlite_path)
    if key not in _scratch_for_path:
        _scratch_for_path[key] = create_scratch_database(label, Path(sqlite_path).parent)
    return _scratch_for_path[key]


def provider_database_url(sqlite_path: Path) -> str:
    """A providers' database of a test's own: the SQLite file, or one scratch PostgreSQL
    database per path when ``TEST_IDP_DATABASE_URL`` is set (the same path gives the same
    database, so a test can open it twice)."""
    return _database_for_path(sqlite_path, bool(TEST_IDP_DATABASE_URL), "idp")


def webapp_database_url(sqlite_path: Path) -> str:
    """A webapp database of a test's own (besides the ``app`` fixture's), likewise."""
    return _database_for_path(sqlite_path, bool(TEST_DATABASE_URL), "webapp")


@atexit.register
def _drop_scratch_databases() -> None:
    for url in _scratch_for_path.values():
        try:
            drop_scratch_database(url)
        except sa.exc.SQLAlchemyError:
            pass  # the throwaway server may already be gone
