"""Alembic environment (async template): modocr's metadata, its URL, its engine setup.

Where the database comes from, first match wins:
1. ``config.attributes["connection"]``: a sync connection from ``run_alembic()`` (tests, CLI);
2. ``alembic -x url=sqlite+aiosqlite:///path.db ...``;
3. ``sqlalchemy.url`` set on the config;
4. modocr's settings: ``MODOCR_DATABASE_URL`` (default ``sqlite+aiosqlite:///modocr.db``).
Migrations run in one transaction (SQLite included: the engine emits real BEGINs); on SQLite
with ``foreign_keys=OFF`` (batch table rebuilds must not cascade) and a
``PRAGMA foreign_key_check`` before commit.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import TYPE_CHECKING, Literal

from alembic import context

import pipeline.db.models  # noqa: F401 - registers every table on Base.metadata
from pipeline.db.base import Base, UTCDateTime
from pipeline.db.engine import check_foreign_keys, database_url, open_database
from pipeline.settings import load_settings

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from sqlalchemy.engine import Connection

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    """The database URL for a command run from the shell."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if url:
        return url
    return load_settings().database_url.get_secret_value()


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render ``UTCDateTime`` as the plain type it stores: revisions never import modocr."""
    del autogen_context
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        check_foreign_keys(connection)


async def _run_async_migrations(url: str) -> None:
    async with open_database(url, foreign_keys=False) as db, db.engine.begin() as connection:
        await connection.run_sync(_run_migrations)


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: emit the SQL for the configured URL's dialect."""
    context.configure(
        url=database_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """On a given connection, else on a fresh engine in alembic's own event loop."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
    else:
        asyncio.run(_run_async_migrations(_url()))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
