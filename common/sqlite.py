"""SQLite settings shared by both apps (webapp and providers)."""
from __future__ import annotations

from sqlalchemy import event


def tune_sqlite(engine) -> None:
    """SQLite only: write-ahead logging, so a commit appends to the log instead of syncing a
    rollback journal, and readers in other workers never wait for a writer. synchronous=NORMAL
    is SQLite's recommended pairing with WAL: a crash never corrupts the database."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
