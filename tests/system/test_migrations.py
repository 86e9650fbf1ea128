"""The migrations build the schema the models describe, for both apps, on SQLite and PostgreSQL.

A failure of ``test_models_match_latest_migration`` means a model changed without a migration.
Write one (see docs/operations.md, "Database migrations"):

    bash scripts/new-migration.sh webapp "Add audit log"      # or: idp_mock "…"

then read the generated file under ``webapp/migrations/versions/`` (or ``idp_mock/…``) and commit it.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from tests.fixtures.migrations import APPS, migrated_app

@pytest.fixture(params=APPS)
def migrated(request, tmp_path):
    """An app whose empty database was brought to the latest migration."""
    with migrated_app(request.param, tmp_path) as migrated:
        yield migrated


def _script_directory(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def test_models_match_latest_migration(migrated):
    name, app, db = migrated
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], (
        f"The {name} models differ from its latest migration. Generate one with "
        f"`bash scripts/new-migration.sh {name} \"What changed\"` (docs/operations.md: Database migrations), "
        f"review it and commit it. Differences: {diff}")


def test_one_head_per_app(migrated):
    name, app, _db_ = migrated
    heads = _script_directory(app).get_heads()
    assert len(heads) == 1, (
        f"{name} has several migration heads {heads}: two branches each added a migration. "
        f"Point the newer one's down_revision at the other (or `flask --app {name} db merge heads`).")


def test_partial_unique_indexes_survive_in_the_migration(migrated):
    """Every partial index of the models exists in the migrated database with its WHERE clause."""
    name, app, db = migrated
    dialect = db.engine.dialect.name
    expected = {
        index.name: str(index.dialect_options[dialect]["where"])
        for table in db.metadata.tables.values() for index in table.indexes
        if index.dialect_options[dialect]["where"] is not None
    }
    if name == "webapp":
        assert {"uq_active_link_per_user", "uq_active_link_per_subject",
                "uq_active_link_per_identity"} <= set(expected)
    with db.engine.connect() as conn:
        if dialect == "postgresql":
            rows = conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes")).all()
        else:
            rows = conn.execute(sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")).all()
    definitions = {row[0]: row[1] for row in rows}
    for index_name, where in expected.items():
        assert index_name in definitions, f"{index_name} missing after the migrations"
        definition = definitions[index_name].upper()
        assert "UNIQUE" in definition and " WHERE " in definition, definitions[index_name]
        column = where.split()[0].upper()
        assert column in definition.split(" WHERE ", 1)[1], definitions[index_name]


def test_active_link_is_unique_but_history_repeats_after_migrations(migrated_webapp):
    """The partial index at work: two ended links for one user are fine, two active ones are not."""
    name, app, db = migrated_webapp
    from webapp.models import LinkedAccount

    now = sa.func.now()
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO organizations (id, name, partner_id, created_at) VALUES (1, 'O', '1', :t)"),
            {"t": "2026-01-01 00:00:00"})
        conn.execute(sa.text(
            "INSERT INTO work_users (id, organization_id, email, display_name, password_hash, roles, "
            "created_at) VALUES (1, 1, 'a@o.com', 'A', 'x', '', :t)"), {"t": "2026-01-01 00:00:00"})
        conn.execute(sa.text(
            "INSERT INTO learning_identities (id, provider, identity_key, association_count) "
            "VALUES (1, 'learn', 'k', 0)"))
    row = dict(work_user_id=1, organization_id=1, identity_id=1, provider="learn", issuer="i",
               subject="s", email="e@x.com", display_name="E", linked_at=now)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(LinkedAccount).values(**row, ended_at=now))
        conn.execute(sa.insert(LinkedAccount).values(**row, ended_at=now))
        conn.execute(sa.insert(LinkedAccount).values(**row))
    with pytest.raises(sa.exc.IntegrityError):
        with db.engine.begin() as conn:
            conn.execute(sa.insert(LinkedAccount).values(**row))


def test_downgrade_to_base_and_upgrade_again(migrated):
    name, app, db = migrated
    downgrade(revision="base")
    with db.engine.connect() as conn:
        left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    assert left == set()
    upgrade()
    with db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert set(db.metadata.tables) <= tables
