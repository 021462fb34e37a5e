"""Storing a batch of results (one statement on PostgreSQL, a few on SQLite), on both.

The same batch holds a new benign post, a new flagged post, a failed item being replayed and
an item already processed (a redelivery): each must end as the single-item path would leave it.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from pipeline.db.models import WHOLE_ITEM, Flag, Item, Outbox, Verdict
from pipeline.kafka.records import Delivery
from pipeline.policy import Judgement, Policy
from pipeline.results import ItemResult, sha256_hex, store_failure, store_results
from pipeline.retention import Retention
from schemas.flagged import FLAGGED_ADAPTER
from schemas.posts import TextPost

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.integration

POLICY = Policy(version="test-1", thresholds={})
SCORES = {"hate_and_discrimination": 0.93, "sexual": 0.01}


def _result(tenant: str, post_id: str, *, flagged: bool, offset: int) -> ItemResult:
    text = f"text of {post_id}"
    judgement = Judgement(
        categories={"hate_and_discrimination": flagged, "sexual": False},
        category_scores=SCORES,
        flagged_categories=["hate_and_discrimination"] if flagged else [],
    )
    return ItemResult(
        kind="post",
        message=TextPost(id=post_id, tenant=tenant, source="forum", text=text, author="u1"),
        delivery=Delivery("modocr.posts", 0, offset, None, b"{}", 0),
        content_sha256=sha256_hex(text),
        content_size=len(text),
        content=text,
        judgement=judgement,
        model="mistral-moderation-2603",
    )


async def _store(session: AsyncSession, results: list[ItemResult]) -> dict[str, int]:
    ids = await store_results(
        session,
        results,
        policy=POLICY,
        retention=Retention(zdr=False, retention_days=30),
        flagged_topic="modocr.flagged",
    )
    return {external_id: item_id for (_, _, external_id), item_id in ids.items()}


async def test_a_batch_stores_new_items_replays_failed_ones_and_skips_processed_ones(
    session: AsyncSession,
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    first = await _store(session, [_result(tenant, "done", flagged=False, offset=1)])
    await store_failure(
        session,
        kind="post",
        delivery=Delivery("modocr.posts", 0, 2, None, b"{}", 0),
        identity=(tenant, "forum", "failed"),
        error_type="MistralUnavailableError",
        reason="upstream unavailable",
        attempts=5,
    )

    stored = await _store(
        session,
        [
            _result(tenant, "benign", flagged=False, offset=3),
            _result(tenant, "done", flagged=True, offset=1),  # a redelivery: changes nothing
            _result(tenant, "flagged", flagged=True, offset=4),
            _result(tenant, "failed", flagged=False, offset=2),
        ],
    )

    assert sorted(stored) == ["benign", "failed", "flagged"]
    items = {
        item.external_id: item
        for item in (await session.scalars(select(Item).where(Item.tenant == tenant))).all()
    }
    assert {name: item.status for name, item in items.items()} == dict.fromkeys(
        ["benign", "done", "failed", "flagged"], "processed"
    )
    assert items["done"].id == first["done"]
    assert (items["failed"].error, items["failed"].error_type) == (None, None)
    assert items["failed"].content == "text of failed"
    assert items["benign"].author == "u1"
    for name in ("benign", "failed", "flagged"):
        assert items[name].id == stored[name]

    verdicts = (
        await session.execute(
            select(Item.external_id, Verdict.page_index, Verdict.flagged, Verdict.category_scores)
            .join(Verdict, Verdict.item_id == Item.id)
            .where(Item.tenant == tenant)
        )
    ).all()
    assert sorted(verdicts) == [
        ("benign", WHOLE_ITEM, False, SCORES),
        ("done", WHOLE_ITEM, False, SCORES),  # the redelivery's verdict was not added
        ("failed", WHOLE_ITEM, False, SCORES),
        ("flagged", WHOLE_ITEM, True, SCORES),
    ]
    flags = (await session.scalars(select(Flag).join(Item).where(Item.tenant == tenant))).all()
    assert [(f.item_id, f.status, f.categories, f.version) for f in flags] == [
        (stored["flagged"], "open", ["hate_and_discrimination"], 1)
    ]

    events = (
        await session.scalars(select(Outbox.value).where(Outbox.key.startswith(f"{tenant}/")))
    ).all()
    assert len(events) == 1
    event = FLAGGED_ADAPTER.validate_json(events[0])
    assert (event.item_id, event.external_id) == (stored["flagged"], "flagged")
    assert event.category_scores == SCORES
    assert json.loads(events[0])["item_id"] == stored["flagged"]
