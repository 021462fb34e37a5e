"""The declarative ``Base``, its naming-convention ``MetaData`` and the shared column types.

Timestamps are ``UTCDateTime``: timezone-aware in, timezone-aware (UTC) out, on PostgreSQL
(``timestamptz``) and on SQLite (stored as naive UTC text) alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Alembic's recommended convention; multi-column keys name every column (``_N_``)."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive datetimes and always returns aware UTC.

    SQLite has no time zone type: values are converted to UTC and stored naive, then
    re-tagged as UTC when read, so ordering and comparison stay correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: modocr stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        del dialect
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


BIG_ID: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""Surrogate keys: ``bigint`` on PostgreSQL, ``INTEGER`` (the rowid alias) on SQLite."""

JSON_DOC: TypeEngine[Any] = JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON documents: ``jsonb`` on PostgreSQL, JSON text on SQLite."""


class Base(AsyncAttrs, DeclarativeBase):
    """The one declarative base of modocr's ORM models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - read by SQLAlchemy, never mutated
        datetime: UTCDateTime(),
        dict[str, Any]: JSON_DOC,
        dict[str, float]: JSON_DOC,
        dict[str, bool]: JSON_DOC,
        dict[str, str]: JSON_DOC,
        list[str]: JSON_DOC,
    }
