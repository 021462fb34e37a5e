"""Database fixtures (a pytest plugin): migrated SQLite and PostgreSQL databases, sessions.

Fixtures: ``sqlite_url``, ``postgres_url`` (session-scoped, migrated to head), ``db_url``
(parametrized over both: ids ``sqlite``/``postgresql``), ``database`` (an open ``Database``),
``session`` (rolled back after each test), ``empty_db_url`` (fresh, never migrated).
The schema is built only by migrations. PostgreSQL databases are ``modocr_t_<hex>``, created
and dropped on ``MODOCR_TEST_POSTGRES_URL`` (default ``postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from pipeline.db.engine import Database, database_url, open_database, upgrade_database

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

POSTGRES_ADMIN_URL = os.environ.get(
    "MODOCR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
"""A database to connect to while creating and dropping the per-run test databases."""

BACKENDS = ("sqlite", "postgresql")


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """Create an empty database ``modocr_t_<hex>``, yield its URL, drop it (connections too)."""
    admin_url = database_url(POSTGRES_ADMIN_URL)
    name = f"modocr_t_{uuid.uuid4().hex}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def fresh_sqlite_url(directory: os.PathLike[str]) -> str:
    """The URL of a new SQLite file in ``directory`` (created on first connection)."""
    return f"sqlite+aiosqlite:///{os.fspath(directory)}/modocr-{uuid.uuid4().hex}.db"


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file database for the test session, migrated to head."""
    url = fresh_sqlite_url(tmp_path_factory.mktemp("db"))
    await upgrade_database(url)
    return url


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the test session, migrated to head, dropped after."""
    async with fresh_postgres_database() as url:
        await upgrade_database(url)
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """The migrated database of each backend in turn (test ids ``[sqlite]``, ``[postgresql]``)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(scope="session")
async def database(db_url: str) -> AsyncIterator[Database]:
    """The open database (engine + session factory) of ``db_url``."""
    async with open_database(db_url) as db:
        yield db


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside an outer transaction that is rolled back after the test.

    The test may commit: commits release SAVEPOINTs only (``create_savepoint``).
    """
    async with database.engine.connect() as connection:
        outer = await connection.begin()
        async with AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        ) as db_session:
            yield db_session
        await outer.rollback()


@pytest.fixture(params=BACKENDS)
async def empty_db_url(
    request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> AsyncIterator[str]:
    """A fresh, empty (unmigrated) database of each backend, for migration tests."""
    if request.param == "sqlite":
        yield fresh_sqlite_url(tmp_path)
        return
    async with fresh_postgres_database() as url:
        yield url
