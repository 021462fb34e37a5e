"""URL parsing, error translation at the seam, and the migration scripts' shape (no sockets)."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import exc
from sqlalchemy.orm.exc import StaleDataError

from pipeline.db.engine import alembic_config, database_url, translate_db_errors
from pipeline.errors import (
    ConfigError,
    ConflictError,
    DatabaseUnavailableError,
    NotFoundError,
)


class _DriverError(Exception):
    """Stands in for a driver exception carrying a SQLSTATE, as asyncpg's do."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("sqlite:///modocr.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///modocr.db", "sqlite+aiosqlite"),
        ("postgresql://u@db/modocr", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db/modocr", "postgresql+asyncpg"),
    ],
)
def test_database_url_picks_the_async_driver(raw: str, driver: str) -> None:
    """Plain sqlite:// and postgresql:// URLs get aiosqlite and asyncpg."""
    assert database_url(raw).drivername == driver
    assert database_url(SecretStr(raw)).drivername == driver


@pytest.mark.parametrize(
    "raw", ["mysql://u@h/db", "not a url", "postgresql+psycopg2://u@h/db", "sqlite+pysqlite://"]
)
def test_database_url_refuses_what_modocr_cannot_use(raw: str) -> None:
    """Other databases, other drivers and junk are configuration errors."""
    with pytest.raises(ConfigError, match="MODOCR_DATABASE_URL"):
        database_url(raw)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (exc.IntegrityError("INSERT", {}, Exception("UNIQUE failed")), ConflictError),
        (StaleDataError("expected to update 1 row"), ConflictError),
        (exc.NoResultFound("no row"), NotFoundError),
        (
            exc.OperationalError("SELECT", {}, Exception("database is locked")),
            DatabaseUnavailableError,
        ),
        (
            exc.InterfaceError("SELECT", {}, Exception("connection closed")),
            DatabaseUnavailableError,
        ),
        (
            exc.DBAPIError("UPDATE", {}, _DriverError("serialize", "40001")),
            DatabaseUnavailableError,
        ),
        (exc.DBAPIError("UPDATE", {}, _DriverError("deadlock", "40P01")), DatabaseUnavailableError),
        (ConnectionRefusedError(111, "Connect call failed"), DatabaseUnavailableError),
        (exc.TimeoutError("QueuePool limit reached"), DatabaseUnavailableError),
    ],
)
def test_translate_db_errors_maps_and_chains(error: Exception, expected: type[Exception]) -> None:
    """Driver and ORM failures become modocr errors, chained to the original."""
    with pytest.raises(expected) as raised, translate_db_errors():
        raise error
    assert raised.value.__cause__ is error


def test_translate_db_errors_hides_statement_and_parameters() -> None:
    """The message names the driver error only: no SQL, no (possibly content) parameters."""
    error = exc.IntegrityError("INSERT INTO items", {"content": "secret"}, Exception("dup key"))
    with pytest.raises(ConflictError) as raised, translate_db_errors():
        raise error
    assert str(raised.value) == "Exception: dup key"


def test_translate_db_errors_lets_bugs_through() -> None:
    """Bad SQL is a bug, not a transient failure: it propagates unchanged."""
    error = exc.ProgrammingError("SELEC 1", {}, _DriverError("syntax error", "42601"))
    with pytest.raises(exc.ProgrammingError), translate_db_errors():
        raise error


def test_migrations_have_one_head() -> None:
    """The revision graph is linear: exactly one head."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
