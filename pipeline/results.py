"""Writing outcomes: an item with its verdicts, flag and outbox event, or a failed item.

Shared by the moderation and OCR workers and the dead-letter path, so that "one transaction
per batch, then commit offsets" and what ZDR allows are decided in one place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from pipeline.db import queries
from pipeline.db.base import utcnow
from pipeline.db.models import WHOLE_ITEM, DocumentPage, Flag, Item, Verdict
from pipeline.kafka.codec import encode
from schemas.flagged import FlaggedEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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


async def existing_keys(
    session: AsyncSession, messages: list[InputMessage]
) -> set[tuple[str, str, str]]:
    """The (tenant, source, id) of these messages already processed (redeliveries).

    Failed items are not among them: a replayed message gets another chance.
    """
    if not messages:
        return set()
    ids = {m.id for m in messages}
    rows = await session.execute(
        select(Item.tenant, Item.source, Item.external_id).where(
            Item.external_id.in_(ids), Item.status == "processed"
        )
    )
    return {(t, s, e) for t, s, e in rows.all()}


def key_of(message: InputMessage) -> tuple[str, str, str]:
    return (message.tenant, message.source, message.id)


async def store_result(
    session: AsyncSession,
    result: ItemResult,
    *,
    policy: Policy,
    retention: Retention,
    flagged_topic: str,
) -> bool:
    """Insert the item, verdicts, pages, flag and outbox event; False if it already existed."""
    message = result.message
    now = utcnow()
    values: dict[str, Any] = {
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
    }
    item, created = await queries.insert_item_if_absent(session, values)
    if not created:
        if item.status == "processed":
            return False
        # A failed input replayed (modocr dlq replay): it becomes the processed item.
        for name, value in values.items():
            setattr(item, name, value)
        item.error = item.error_type = None
        await session.flush()
    judgement = result.judgement
    session.add(_verdict(item.id, WHOLE_ITEM, judgement, result.model, policy.version))
    for page in result.pages:
        session.add(
            DocumentPage(
                item_id=item.id,
                page_index=page.index,
                width=page.width,
                height=page.height,
                dpi=page.dpi,
                text_sha256=sha256_hex(page.markdown),
                char_count=len(page.markdown),
                markdown=retention.text(page.markdown),
            )
        )
        if page.judgement is not None:
            session.add(_verdict(item.id, page.index, page.judgement, result.model, policy.version))
    if judgement.flagged:
        session.add(
            Flag(
                item_id=item.id,
                status="open",
                categories=judgement.flagged_categories,
                max_score=judgement.max_score,
            )
        )
        flagged_pages = [
            p.index for p in result.pages if p.judgement is not None and p.judgement.flagged
        ]
        event = FlaggedEvent(
            item_id=item.id,
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
        await queries.add_outbox(
            session,
            flagged_topic,
            f"{message.tenant}/{message.source}/{message.id}",
            json.loads(encode(event)),
            event_id=event.event_id,
        )
    return True


def _verdict(
    item_id: int, page_index: int, judgement: Judgement, model: str, policy_version: str
) -> Verdict:
    return Verdict(
        item_id=item_id,
        page_index=page_index,
        model=model,
        policy_version=policy_version,
        category_scores=judgement.category_scores,
        categories=judgement.categories,
        flagged_categories=judgement.flagged_categories,
        flagged=judgement.flagged,
        max_score=judgement.max_score,
    )


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
