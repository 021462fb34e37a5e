"""Writing outcomes: an item with its verdicts, flag and outbox event, or a failed item.

Shared by the moderation and OCR workers and the dead-letter path, so that "one transaction
per batch, then commit offsets" and what ZDR allows are decided in one place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert as sa_insert
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from pipeline import results_pg
from pipeline.db import queries
from pipeline.db.base import utcnow
from pipeline.db.engine import translate_db_errors
from pipeline.db.models import WHOLE_ITEM, DocumentPage, Flag, Item, Outbox, Verdict
from pipeline.kafka.codec import encode
from pipeline.results_pg import table_of
from schemas.flagged import FlaggedEvent

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from pipeline.db.base import Base
    from pipeline.kafka.records import Delivery
    from pipeline.policy import Judgement, Policy
    from pipeline.retention import Retention
    from schemas.inputs import InputMessage

ItemKind = Literal["post", "document"]


def sha256_hex(data: bytes | str) -> str:
    """Lowercase hex SHA-256 of bytes, or of a string's UTF-8."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class PageResult:
    """One OCR'd page: its text (kept only if retention allows) and its verdict."""

    index: int
    markdown: str
    width: int
    height: int
    dpi: int | None
    judgement: Judgement | None


@dataclass(frozen=True)
class ItemResult:
    """Everything the database and the flagged topic learn about one processed input."""

    kind: ItemKind
    message: InputMessage
    delivery: Delivery
    content_sha256: str
    content_size: int
    content: str | None
    judgement: Judgement
    model: str
    pages: list[PageResult] = field(default_factory=list)
    filename: str | None = None
    content_type: str | None = None
    reused_from_item_id: int | None = None
    """Set when the verdict was reused from an identical item (dedupe) instead of the API."""


async def existing_keys(
    session: AsyncSession, messages: list[InputMessage]
) -> set[tuple[str, str, str]]:
    """The (tenant, source, id) of these messages already processed (redeliveries).

    Failed items are not among them: a replayed message gets another chance.
    """
    if not messages:
        return set()
    wanted = {key_of(m) for m in messages}
    # All three key columns, so the (tenant, source, external_id) unique index serves it;
    # the few extra rows the cross product may bring are dropped below.
    rows = await session.execute(
        select(Item.tenant, Item.source, Item.external_id).where(
            queries.one_of(session, Item.tenant, {t for t, _, _ in wanted}),
            queries.one_of(session, Item.source, {s for _, s, _ in wanted}),
            queries.one_of(session, Item.external_id, {e for _, _, e in wanted}),
            Item.status == "processed",
        )
    )
    return {(t, s, e) for t, s, e in rows.all()} & wanted


def key_of(message: InputMessage) -> tuple[str, str, str]:
    return (message.tenant, message.source, message.id)


async def store_result(
    session: AsyncSession,
    result: ItemResult,
    *,
    policy: Policy,
    retention: Retention,
    flagged_topic: str,
) -> int | None:
    """Insert the item, verdicts, pages, flag and outbox event; return the item's id, or
    ``None`` if it was already processed."""
    values = _item_values(result, retention, utcnow())
    item, created = await queries.insert_item_if_absent(session, values)
    if not created:
        if item.status == "processed":
            return None
        # A failed input replayed (modocr dlq replay): it becomes the processed item.
        for name, value in values.items():
            setattr(item, name, value)
        item.error = item.error_type = None
        await session.flush()
    for model, rows in _children(item.id, result, policy, retention, flagged_topic):
        session.add_all(model(**row) for row in rows)
    return item.id


async def store_results(
    session: AsyncSession,
    results: Sequence[ItemResult],
    *,
    policy: Policy,
    retention: Retention,
    flagged_topic: str,
) -> dict[tuple[str, str, str], int]:
    """``store_result`` for a batch of distinct keys. On PostgreSQL one statement
    (``pipeline.results_pg``), atomic on its own, so it needs no transaction around it; on
    SQLite one multi-row INSERT of the items, then one of each child table, and items that
    existed go through ``store_result``.

    Returns the ids of the items stored, by (tenant, source, external id).
    """
    if not results:
        return {}
    now = utcnow()
    values = [_item_values(r, retention, now) for r in results]
    if queries.dialect_name(session) == "postgresql":
        return await _store_results_pg(session, results, values, policy, retention, flagged_topic)
    items = table_of(Item)  # SQLite from here on
    # Core executemany (not ORM, not .values(list)): the statement compiles once and is cached;
    # SQLAlchemy sends it as multi-row VALUES pages ("insertmanyvalues").
    statement = (
        sqlite.insert(items)
        .on_conflict_do_nothing(index_elements=list(queries.ITEM_KEY))
        .returning(items.c.id, items.c.tenant, items.c.source, items.c.external_id)
    )
    with translate_db_errors():
        connection = await session.connection()
        returned = (await connection.execute(statement, values)).all()
    created = {(t, s, e): i for i, t, s, e in returned}
    children: dict[type[Base], list[dict[str, Any]]] = {}
    for result in results:
        item_id = created.get(key_of(result.message))
        if item_id is None:  # existed: a redelivery, or a failed item replayed
            replayed = await store_result(
                session, result, policy=policy, retention=retention, flagged_topic=flagged_topic
            )
            if replayed is not None:
                created[key_of(result.message)] = replayed
            continue
        for model, rows in _children(item_id, result, policy, retention, flagged_topic):
            children.setdefault(model, []).extend(rows)
    with translate_db_errors():
        for table in (Verdict, DocumentPage, Flag, Outbox):
            if table_rows := children.get(table, []):
                await connection.execute(sa_insert(table_of(table)), table_rows)
    return created


async def _store_results_pg(
    session: AsyncSession,
    results: Sequence[ItemResult],
    values: list[dict[str, Any]],
    policy: Policy,
    retention: Retention,
    flagged_topic: str,
) -> dict[tuple[str, str, str], int]:
    """PostgreSQL: everything in one statement (``pipeline.results_pg``)."""
    children: dict[type[Base], list[tuple[int, dict[str, Any]]]] = {}
    for position, result in enumerate(results, start=1):
        for model, rows in _children(position, result, policy, retention, flagged_topic):
            children.setdefault(model, []).extend((position, row) for row in rows)
    stored = await results_pg.insert_batch(session, values, children)
    return {key_of(results[position - 1].message): item_id for position, item_id in stored.items()}


def _item_values(result: ItemResult, retention: Retention, now: datetime) -> dict[str, Any]:
    message = result.message
    return {
        "kind": result.kind,
        "tenant": message.tenant,
        "source": message.source,
        "external_id": message.id,
        "content_sha256": result.content_sha256,
        "content_size": result.content_size,
        "page_count": len(result.pages) if result.kind == "document" else None,
        "received_at": now,
        "processed_at": now,
        "status": "processed",
        "attempts": 1,
        "content": retention.text(result.content),
        "filename": retention.filename(result.filename),
        "content_type": result.content_type,
        "metadata_json": retention.metadata(message.metadata),
        "author": retention.author(message.author),
        "source_topic": result.delivery.topic,
        "source_partition": result.delivery.partition,
        "source_offset": result.delivery.offset,
        "reused_from_item_id": result.reused_from_item_id,
    }


def _children(
    item_id: int, result: ItemResult, policy: Policy, retention: Retention, flagged_topic: str
) -> list[tuple[type[Base], list[dict[str, Any]]]]:
    """The rows an item brings: verdicts, pages, flag and outbox event (column → value)."""
    message = result.message
    judgement = result.judgement
    verdicts = [_verdict(item_id, WHOLE_ITEM, judgement, result.model, policy.version)]
    pages = []
    for page in result.pages:
        pages.append(
            {
                "item_id": item_id,
                "page_index": page.index,
                "width": page.width,
                "height": page.height,
                "dpi": page.dpi,
                "text_sha256": sha256_hex(page.markdown),
                "char_count": len(page.markdown),
                "markdown": retention.text(page.markdown),
            }
        )
        if page.judgement is not None:
            verdicts.append(
                _verdict(item_id, page.index, page.judgement, result.model, policy.version)
            )
    out: list[tuple[type[Base], list[dict[str, Any]]]] = [
        (Verdict, verdicts),
        (DocumentPage, pages),
    ]
    if judgement.flagged:
        flag = {
            "item_id": item_id,
            "status": "open",
            "categories": judgement.flagged_categories,
            "max_score": judgement.max_score,
            "version": 1,
        }
        flagged_pages = [
            p.index for p in result.pages if p.judgement is not None and p.judgement.flagged
        ]
        event = FlaggedEvent(
            item_id=item_id,
            item_kind=result.kind,
            tenant=message.tenant,
            source=message.source,
            external_id=message.id,
            content_sha256=result.content_sha256,
            categories=judgement.flagged_categories,
            category_scores=judgement.category_scores,
            max_score=judgement.max_score,
            model=result.model,
            policy_version=policy.version,
            pages=flagged_pages if result.kind == "document" else None,
        )
        outbox = {
            "event_id": event.event_id,
            "topic": flagged_topic,
            "key": f"{message.tenant}/{message.source}/{message.id}",
            "value": encode(event).decode(),
            "headers": None,
        }
        out += [(Flag, [flag]), (Outbox, [outbox])]
    return out


def _verdict(
    item_id: int, page_index: int, judgement: Judgement, model: str, policy_version: str
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "page_index": page_index,
        "model": model,
        "policy_version": policy_version,
        "category_scores": judgement.category_scores,
        "categories": judgement.categories,
        "flagged_categories": judgement.flagged_categories,
        "flagged": judgement.flagged,
        "max_score": judgement.max_score,
    }


async def store_failure(
    session: AsyncSession,
    *,
    kind: ItemKind,
    delivery: Delivery,
    identity: tuple[str | None, str | None, str | None],
    error_type: str,
    reason: str,
    attempts: int,
) -> None:
    """Record a failed input; an input without a readable id is keyed by its position."""
    tenant, source, external_id = identity
    values: dict[str, Any] = {
        "kind": kind,
        "tenant": tenant or "unknown",
        "source": source or "unknown",
        "external_id": external_id or f"{delivery.topic}:{delivery.partition}:{delivery.offset}",
        "content_sha256": sha256_hex(delivery.value or b""),
        "content_size": len(delivery.value or b""),
        "received_at": utcnow(),
        "processed_at": utcnow(),
        "status": "failed",
        "error": reason,
        "error_type": error_type,
        "attempts": attempts,
        "source_topic": delivery.topic,
        "source_partition": delivery.partition,
        "source_offset": delivery.offset,
    }
    item, created = await queries.insert_item_if_absent(session, values)
    if not created and item.status != "processed":
        item.status = "failed"
        item.error = reason
        item.error_type = error_type
        item.attempts = max(item.attempts, attempts)
        item.processed_at = utcnow()
