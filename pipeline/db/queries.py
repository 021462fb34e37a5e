"""Typed async queries ``(session, ...)`` shared by the workers and the review API.

Each runs inside the caller's transaction and never commits. Database failures surface
as modocr errors (``translate_db_errors``); upserts are dialect-aware (PostgreSQL, SQLite).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import any_, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pipeline.db.engine import translate_db_errors
from pipeline.db.models import Item, Outbox
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy import ColumnElement, CursorResult
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import QueryableAttribute

    from pipeline.db.base import Base

ITEM_KEY = ("tenant", "source", "external_id")
"""The producer's key of an item: a redelivered message maps to the same row."""


def dialect_name(session: AsyncSession) -> str:
    """``"postgresql"`` or ``"sqlite"``: the dialect the session is bound to."""
    return session.get_bind().dialect.name


def one_of(
    session: AsyncSession, column: QueryableAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter however
    many values, so the statement's text is the same for every batch (prepared once, and no
    placeholder rendered per value)."""
    if dialect_name(session) == "postgresql":
        array = literal(list(values), postgresql.ARRAY(column.expression.type))
        return column == any_(array)
    return column.in_(values)


async def get_item(
    session: AsyncSession, tenant: str, source: str, external_id: str
) -> Item | None:
    """The item the producer knows as (tenant, source, external_id), if stored."""
    statement = select(Item).where(
        Item.tenant == tenant, Item.source == source, Item.external_id == external_id
    )
    with translate_db_errors():
        return (await session.execute(statement)).scalar_one_or_none()


async def insert_item_if_absent(
    session: AsyncSession, values: Mapping[str, Any]
) -> tuple[Item, bool]:
    """Insert an item unless its (tenant, source, external_id) exists; return it and ``created``.

    ``INSERT ... ON CONFLICT DO NOTHING`` then a SELECT, so a redelivered message returns
    the stored row unchanged with ``created=False``; concurrent inserts never raise.
    ``values`` are ``Item`` column names to values (the key and the NOT NULL columns at least).
    """
    missing = [key for key in ITEM_KEY if key not in values]
    if missing:
        raise ValueError(f"insert_item_if_absent: missing {', '.join(missing)}")
    insert = _insert_for(session)
    statement = (
        insert(Item)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=list(ITEM_KEY))
        .returning(Item.id)
    )
    with translate_db_errors():
        created = (await session.execute(statement)).scalar_one_or_none() is not None
    item = await get_item(session, values["tenant"], values["source"], values["external_id"])
    if item is None:  # only if another transaction deleted it in between
        raise RuntimeError("insert_item_if_absent: the item vanished after its insert")
    return item, created


def _insert_for(session: AsyncSession) -> Any:  # noqa: ANN401 - two dialects' insert()
    """The dialect's ``insert`` construct, the one with ``on_conflict_do_nothing``."""
    name = dialect_name(session)
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise ConfigError(f"unsupported database dialect {name!r}")


async def add_outbox(
    session: AsyncSession,
    topic: str,
    key: str | None,
    value: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    event_id: str | None = None,
) -> str:
    """Stage an event for the relay in the caller's transaction; return its ``event_id``.

    ``value`` must be JSON-serialisable (``message.model_dump(mode="json")``). The event id
    is, in order: ``event_id``, ``value["event_id"]`` if it is a string, a new uuid4 hex.
    """
    found = value.get("event_id")
    chosen = event_id or (found if isinstance(found, str) else None) or uuid.uuid4().hex
    session.add(
        Outbox(
            event_id=chosen,
            topic=topic,
            key=key,
            value=json.dumps(value, separators=(",", ":"), ensure_ascii=False),
            headers=dict(headers) if headers is not None else None,
        )
    )
    return chosen


async def claim_unpublished_outbox(session: AsyncSession, limit: int) -> list[Outbox]:
    """Up to ``limit`` unpublished events, oldest first, locked until the transaction ends.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several relays claim disjoint rows.
    SQLite has no row locks: run a single relay per SQLite database.
    """
    statement = select(Outbox).where(Outbox.published_at.is_(None)).order_by(Outbox.id).limit(limit)
    if dialect_name(session) == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    with translate_db_errors():
        return list((await session.execute(statement)).scalars())


async def claim_and_mark_outbox(session: AsyncSession, limit: int, when: datetime) -> list[Outbox]:
    """PostgreSQL: ``claim_unpublished_outbox`` and ``mark_published`` in one statement.

    ``UPDATE … SET published_at = when WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``:
    the rows stay locked, and marked only within the caller's transaction, so a publish that
    fails rolls the mark back with it; one round trip instead of two. Oldest first.
    """
    claimed = (
        select(Outbox.id)
        .where(Outbox.published_at.is_(None))
        .order_by(Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(Outbox)
        .where(Outbox.id.in_(claimed.scalar_subquery()))
        .values(published_at=when)
        .returning(Outbox)
        .execution_options(synchronize_session=False)
    )
    with translate_db_errors():
        rows = list((await session.execute(statement)).scalars())
    return sorted(rows, key=lambda row: row.id)


async def mark_published(session: AsyncSession, ids: Sequence[int], when: datetime) -> int:
    """Set ``published_at`` on the given, still unpublished, outbox rows; return how many."""
    if not ids:
        return 0
    statement = (
        update(Outbox)
        .where(Outbox.id.in_(ids), Outbox.published_at.is_(None))
        .values(published_at=when)
        .execution_options(synchronize_session="fetch")
    )
    with translate_db_errors():
        result = cast("CursorResult[Any]", await session.execute(statement))
    return result.rowcount


async def count_rows(session: AsyncSession, model: type[Base]) -> int:
    """How many rows the model's table holds (as this transaction sees it)."""
    statement = select(func.count()).select_from(model)
    with translate_db_errors():
        return (await session.execute(statement)).scalar_one()
