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
async def test_statistics_targets_on_postgresql(empty_db_url: str) -> None:
    """Payload columns get no statistics, the ingest tables' other columns a small sample, the
    review's tables the default; downgrades give each back what it had."""
    query = text(
        "SELECT attrelid::regclass::text || '.' || attname, attstattarget FROM pg_attribute "
        "WHERE (attrelid, attname) IN (('items'::regclass, 'content'), "
        "('items'::regclass, 'metadata_json'), ('items'::regclass, 'tenant'), "
        "('verdicts'::regclass, 'item_id'), ('outbox'::regclass, 'published_at'), "
        "('flags'::regclass, 'status'))"
    )

    async def targets() -> dict[str, int]:
        async with open_database(empty_db_url) as db, db.engine.connect() as connection:
            rows = (await connection.execute(query)).tuples().all()
        return {name: int(target) for name, target in rows}

    await upgrade_database(empty_db_url)
    sampled = {"items.tenant": 10, "verdicts.item_id": 10, "outbox.published_at": 10}
    assert await targets() == {
        "items.content": 0,
        "items.metadata_json": 0,
        **sampled,
        "flags.status": -1,
    }
    # A column added to an ingest table later must choose: a payload (0) or sampled (10).
    async with open_database(empty_db_url) as db, db.engine.connect() as connection:
        unsampled = (
            await connection.execute(
                text(
                    "SELECT attrelid::regclass::text || '.' || attname FROM pg_attribute "
                    "WHERE attrelid IN ('items'::regclass, 'verdicts'::regclass, "
                    "'outbox'::regclass) AND attnum > 0 AND NOT attisdropped "
                    "AND attstattarget = -1"
                )
            )
        ).scalars()
        assert list(unsampled) == []
    await downgrade_database(empty_db_url, "3c5e1d7a9b42")
    assert await targets() == {
        "items.content": 0,
        "items.metadata_json": 0,
        **dict.fromkeys(sampled, -1),
        "flags.status": -1,
    }
    await downgrade_database(empty_db_url, "beb2f7aad6e0")
    assert (await targets())["items.content"] == -1
