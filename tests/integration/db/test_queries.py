"""The shared queries on real SQLite and PostgreSQL, inside rolled-back transactions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from pipeline.db import queries
from pipeline.db.models import DocumentPage, Item, Outbox
from pipeline.errors import ConflictError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.integration


def _item(external_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "post",
        "tenant": "acme",
        "source": "forum",
        "external_id": external_id or uuid.uuid4().hex,
        "content_sha256": "ab" * 32,
        "content_size": 11,
        "content": "hello world",
    }
    return values | overrides


async def test_insert_item_if_absent_is_idempotent(session: AsyncSession) -> None:
    """A redelivered message returns the stored row, unchanged, with created=False."""
    before = await queries.count_rows(session, Item)
    first, created = await queries.insert_item_if_absent(session, _item("m-1"))
    again, created_again = await queries.insert_item_if_absent(
        session, _item("m-1", content="changed", content_size=7)
    )
    assert created
    assert not created_again
    assert again.id == first.id
    assert again.content == "hello world"
    assert again.status == "pending"
    assert again.attempts == 0
    assert await queries.count_rows(session, Item) == before + 1


async def test_get_item_finds_by_producer_key(session: AsyncSession) -> None:
    """get_item matches tenant, source and external id; anything else is None."""
    stored, _ = await queries.insert_item_if_absent(session, _item("k-1"))
    assert await queries.get_item(session, "acme", "forum", "k-1") is stored
    assert await queries.get_item(session, "acme", "other", "k-1") is None


async def test_aware_datetimes_round_trip(session: AsyncSession) -> None:
    """An aware datetime comes back as the same instant, tagged UTC (SQLite included)."""
    received = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5)))
    item, _ = await queries.insert_item_if_absent(session, _item(received_at=received))
    await session.commit()
    session.expunge_all()
    loaded = await queries.get_item(session, item.tenant, item.source, item.external_id)
    assert loaded is not None
    assert loaded.received_at == received
    assert loaded.received_at.tzinfo is UTC


async def test_outbox_claim_and_mark_published(session: AsyncSession) -> None:
    """Staged events are claimed oldest first, once marked published they are not claimed."""
    before = [row.id for row in await queries.claim_unpublished_outbox(session, 1000)]
    ids = [await queries.add_outbox(session, "modocr.flagged", f"k{n}", {"n": n}) for n in range(3)]
    explicit = await queries.add_outbox(
        session, "modocr.flagged", None, {"event_id": "ev-1"}, {"h": "v"}
    )
    await session.flush()
    claimed = [
        r for r in await queries.claim_unpublished_outbox(session, 1000) if r.id not in before
    ]
    assert [row.event_id for row in claimed] == [*ids, explicit]
    assert explicit == "ev-1"
    assert json.loads(claimed[0].value) == {"n": 0}
    assert claimed[-1].headers == {"h": "v"}
    now = datetime.now(UTC)
    assert await queries.mark_published(session, [row.id for row in claimed[:2]], now) == 2
    assert await queries.mark_published(session, [claimed[0].id], now) == 0
    left = [r for r in await queries.claim_unpublished_outbox(session, 1000) if r.id not in before]
    assert [row.event_id for row in left] == [ids[2], explicit]
    assert claimed[0].published_at == now


async def test_duplicate_event_id_is_a_conflict(session: AsyncSession) -> None:
    """Two outbox rows with one event_id violate the unique key: ConflictError."""
    await queries.add_outbox(session, "t", None, {}, event_id="dup")
    await queries.add_outbox(session, "t", None, {}, event_id="dup")
    with pytest.raises(ConflictError):
        await queries.count_rows(session, Outbox)


async def test_foreign_keys_are_enforced(session: AsyncSession) -> None:
    """A page of a missing item is refused on SQLite too (PRAGMA foreign_keys=ON)."""
    session.add(
        DocumentPage(
            item_id=987_654_321,
            page_index=0,
            width=1,
            height=1,
            text_sha256="0" * 64,
            char_count=0,
        )
    )
    with pytest.raises(ConflictError):
        await queries.count_rows(session, DocumentPage)
