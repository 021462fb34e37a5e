"""Migrations on real SQLite and PostgreSQL: they round-trip and match the models exactly."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from pipeline.db.base import Base
from pipeline.db.engine import (
    check_foreign_keys,
    downgrade_database,
    open_database,
    run_alembic,
    upgrade_database,
)
from pipeline.errors import ConflictError

pytestmark = pytest.mark.integration


async def _tables(url: str) -> set[str]:
    async with open_database(url) as db, db.engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


@pytest.mark.slow
async def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    """head → base → head leaves the full schema; base leaves no table behind."""
    await upgrade_database(empty_db_url)
    assert await _tables(empty_db_url) == set(Base.metadata.tables)
    await downgrade_database(empty_db_url, "base")
    assert await _tables(empty_db_url) == set()
    await upgrade_database(empty_db_url)
    assert await _tables(empty_db_url) == set(Base.metadata.tables)


async def test_no_drift_between_models_and_migrations(db_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations build exactly the models' schema."""
    async with open_database(db_url) as db, db.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
            )
        )
    assert diff == []


async def test_alembic_check_passes(db_url: str) -> None:
    """``alembic check`` (env.py's own comparison options) reports no new operations."""
    async with open_database(db_url) as db:
        await run_alembic(db.engine, command.check)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_migrations_refuse_dangling_rows_on_sqlite(db_url: str) -> None:
    """With foreign keys off (as migrations run on SQLite), the final check still catches
    rows that point at nothing, so the migration's transaction rolls back."""
    async with open_database(db_url, foreign_keys=False) as db, db.engine.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO document_pages (item_id, page_index, width, height, text_sha256,"
                " char_count) VALUES (987654321, 0, 1, 1, 'x', 0)"
            )
        )
        with pytest.raises(ConflictError, match="document_pages"):
            await conn.run_sync(check_foreign_keys)
        await conn.rollback()


@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
async def test_analyze_skips_the_payload_columns_on_postgresql(empty_db_url: str) -> None:
    """Payload columns get no statistics (ANALYZE's most costly part); the others keep the
    default, and a downgrade gives the content column its statistics back."""
    query = text(
        "SELECT attname, attstattarget FROM pg_attribute "
        "WHERE attrelid = 'items'::regclass AND attname IN ('content', 'metadata_json', 'tenant')"
    )

    async def targets() -> dict[str, int]:
        async with open_database(empty_db_url) as db, db.engine.connect() as connection:
            rows = (await connection.execute(query)).tuples().all()
        return {name: int(target) for name, target in rows}

    await upgrade_database(empty_db_url)
    assert await targets() == {"content": 0, "metadata_json": 0, "tenant": -1}
    await downgrade_database(empty_db_url, "beb2f7aad6e0")
    assert await targets() == {"content": -1, "metadata_json": 0, "tenant": -1}
