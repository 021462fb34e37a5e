"""Opening the database (engine + session factory), translating its errors, running migrations.

The seam between SQLAlchemy/drivers and modocr: ``translate_db_errors()`` turns driver and ORM
failures into ``DatabaseUnavailableError`` (retriable) or ``ConflictError``/``NotFoundError``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from pydantic import SecretStr
from sqlalchemy import event, exc, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.exc import StaleDataError

from pipeline.errors import ConfigError, ConflictError, DatabaseUnavailableError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from sqlalchemy.engine import URL, Connection

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5_000
"""How long a SQLite connection waits for another writer's lock before failing (ms)."""

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
"""The repository's ``alembic.ini``; an installed package (the Docker image) uses the one in
the working directory, next to its ``migrations/``."""

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_UNAVAILABLE_SQLSTATES = ("08", "40001", "40P01", "53", "57P")
"""Connection exceptions, serialization failure, deadlock, resources exhausted, shutdown."""


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: the engine (for connections and migrations) and the session factory.

    ``sessions`` is ``async_sessionmaker(engine, expire_on_commit=False)``: one session per
    message or request, ``async with db.sessions.begin() as session: ...``.

    ``autocommit`` is for lookups and single-statement writes that need no transaction of their
    own (a worker's checks before it calls the API, a usage upsert): on PostgreSQL each
    statement commits on its own, which saves the ``BEGIN`` and ``COMMIT`` round trips and
    holds row locks only for the statement; on SQLite it is ``sessions`` (commit explicitly).
    """

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    autocommit: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name


def database_url(url: str | SecretStr) -> URL:
    """Parse a database URL; ``sqlite://`` and ``postgresql://`` get the async drivers.

    Raises:
        ConfigError: the URL is malformed or names a database modocr does not support.
    """
    raw = url.get_secret_value() if isinstance(url, SecretStr) else url
    try:
        parsed = make_url(raw)
    except exc.ArgumentError as error:
        raise ConfigError("MODOCR_DATABASE_URL is not a valid database URL") from error
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigError(
            f"MODOCR_DATABASE_URL must be a sqlite or postgresql URL, not {backend!r}"
        )
    if parsed.drivername == backend:
        parsed = parsed.set(drivername=_DRIVERS[backend])
    if parsed.drivername != _DRIVERS[backend]:
        raise ConfigError(f"MODOCR_DATABASE_URL: use the {_DRIVERS[backend]} driver")
    return parsed


@asynccontextmanager
async def open_database(
    url: str | SecretStr, *, echo: bool = False, foreign_keys: bool = True, pool_size: int = 5
) -> AsyncIterator[Database]:
    """Create the engine, check that the database answers, yield it; dispose it on exit.

    SQLite (aiosqlite): WAL journal, ``foreign_keys=ON``, ``busy_timeout``, real
    ``BEGIN``/SAVEPOINT transactions; the file's directory is created if missing.
    PostgreSQL (asyncpg): ``pool_size`` connections kept, as many more opened on demand (and
    closed on return). No ``pool_pre_ping`` (a round trip per checkout); a connection that
    turns out dead raises a disconnect error, which invalidates the pool's connections and
    becomes ``DatabaseUnavailableError``, so the caller's retry gets a fresh one. Statement
    parameters are never shown in error messages (they may hold content, see ZDR).
    ``foreign_keys=False`` is for migrations only (SQLite would cascade or refuse while
    alembic rebuilds a table).

    Raises:
        ConfigError: the URL is unusable.
        DatabaseUnavailableError: the database did not answer.
    """
    parsed = database_url(url)
    engine = _create_engine(parsed, echo=echo, foreign_keys=foreign_keys, pool_size=pool_size)
    try:
        with translate_db_errors():
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        autocommit = (
            async_sessionmaker(
                engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
            )
            if engine.dialect.name == "postgresql"
            else sessions
        )
        yield Database(engine, sessions, autocommit)
    finally:
        await engine.dispose()


def _create_engine(url: URL, *, echo: bool, foreign_keys: bool, pool_size: int) -> AsyncEngine:
    if url.get_backend_name() == "postgresql":
        return create_async_engine(
            url, echo=echo, hide_parameters=True, pool_size=pool_size, max_overflow=pool_size
        )
    _ensure_parent_dir(url)
    engine = create_async_engine(url, echo=echo, hide_parameters=True)

    def configure(dbapi_connection: Any, connection_record: object) -> None:  # noqa: ANN401
        del connection_record
        _configure_sqlite(dbapi_connection, foreign_keys=foreign_keys)

    event.listen(engine.sync_engine, "connect", configure)
    event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


def _ensure_parent_dir(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(dbapi_connection: Any, *, foreign_keys: bool) -> None:  # noqa: ANN401
    """Per new SQLite connection: let SQLAlchemy emit BEGIN itself, then set the pragmas.

    The driver's own implicit transactions break SAVEPOINT and transactional DDL
    (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL").
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def check_foreign_keys(connection: Connection) -> None:
    """SQLite: refuse to commit a migration that left rows pointing at nothing.

    Migrations run with ``foreign_keys=OFF`` on SQLite (a table rebuild must not cascade),
    so the check happens once, at the end. PostgreSQL checks as it goes: nothing to do.

    Raises:
        ConflictError: some rows violate a foreign key.
    """
    if connection.dialect.name != "sqlite":
        return
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        tables = sorted({str(row[0]) for row in violations})
        raise ConflictError(f"{len(violations)} foreign-key violations in {', '.join(tables)}")


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Re-raise database failures as modocr errors, chained to the original.

    - ``IntegrityError``, ``StaleDataError`` (optimistic lock) → ``ConflictError``
    - ``NoResultFound`` → ``NotFoundError``
    - ``OperationalError``, ``InterfaceError``, an invalidated connection, connection
      refused, pool timeout, serialization failure, deadlock → ``DatabaseUnavailableError``

    Anything else (a bug: bad SQL, bad data) propagates unchanged. Works around awaits:
    ``with translate_db_errors(): await session.commit()``.
    """
    try:
        yield
    except (exc.IntegrityError, StaleDataError) as error:
        raise ConflictError(_describe(error)) from error
    except exc.NoResultFound as error:
        raise NotFoundError(str(error)) from error
    except exc.DBAPIError as error:
        if _is_unavailable(error):
            raise DatabaseUnavailableError(_describe(error)) from error
        raise
    except (exc.TimeoutError, exc.DisconnectionError, OSError) as error:
        raise DatabaseUnavailableError(_describe(error)) from error


def _is_unavailable(error: exc.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _describe(error: BaseException) -> str:
    """The driver's first line (no SQL, no parameters: they may hold content)."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def alembic_config() -> Config:
    """Alembic's configuration for programmatic use (logging left as the caller set it up)."""
    ini = ALEMBIC_INI if ALEMBIC_INI.exists() else Path.cwd() / "alembic.ini"
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    config.attributes["configure_logger"] = False
    return config


async def run_alembic(engine: AsyncEngine, action: Callable[[Config], None]) -> None:
    """Run an alembic command on ``engine`` inside the running event loop, in one transaction.

    ``action`` gets a ``Config`` whose ``attributes["connection"]`` is the (sync) connection,
    e.g. ``await run_alembic(db.engine, lambda cfg: command.downgrade(cfg, "base"))``.
    On SQLite, open the engine with ``foreign_keys=False`` for migrations that rebuild tables.
    """

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        action(config)

    with translate_db_errors():
        async with engine.begin() as connection:
            await connection.run_sync(run)


async def upgrade_database(url: str | SecretStr, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on ``url``; safe to await inside a running event loop.

    Synchronous callers: ``asyncio.run(upgrade_database(url))``.
    """
    async with open_database(url, foreign_keys=False) as db:
        logger.info("upgrading the %s database to %s", db.dialect, revision)
        await run_alembic(db.engine, lambda config: command.upgrade(config, revision))


async def downgrade_database(url: str | SecretStr, revision: str) -> None:
    """``alembic downgrade <revision>`` on ``url`` (``"base"`` drops every table)."""
    async with open_database(url, foreign_keys=False) as db:
        logger.info("downgrading the %s database to %s", db.dialect, revision)
        await run_alembic(db.engine, lambda config: command.downgrade(config, revision))
