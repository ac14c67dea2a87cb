"""The migrations build exactly the schema the code declares.

A column added to bridge/store/tables.py without its migration works in
every test that builds tables from the models, then fails on the first
production upgrade. Alembic's own comparison catches it here.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bridge.store import Database
from bridge.store.tables import metadata


def _differences(url: str) -> list:
    db = Database(url)
    db.upgrade()
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        db.dispose()


def test_migrated_sqlite_schema_matches_the_models(tmp_path):
    assert _differences(f"sqlite:///{tmp_path / 'schema.db'}") == []


@pytest.mark.services
def test_migrated_postgres_schema_matches_the_models(fresh_postgres_db):
    assert _differences(fresh_postgres_db) == []
