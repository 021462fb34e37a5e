"""The naive consumer the benchmark compares against: one message → one request → one
transaction → one commit, with the same client, policy and result writer as the workers."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from pipeline.kafka.client import open_consumer
from pipeline.kafka.codec import decode
from pipeline.kafka.records import Delivery
from pipeline.results import ItemResult, sha256_hex, store_result
from schemas.posts import POST_ADAPTER, TextPost

if TYPE_CHECKING:
    from pipeline.worker import Context


async def run_naive(
    ctx: Context,
    bootstrap: str,
    topic: str,
    *,
    group_id: str,
    limit: int,
    duration_s: float,
) -> int:
    """Consume ``topic`` one message at a time until ``limit`` messages or ``duration_s``
    after the first one; return how many were processed."""
    done = 0
    started: float | None = None
    async with open_consumer(
        bootstrap, group_id, session_timeout_ms=6000, heartbeat_interval_ms=1000, max_poll_records=1
    ) as consumer:
        consumer.subscribe([topic])
        while done < limit and (started is None or time.monotonic() - started < duration_s):
            fetched = await consumer.getmany(timeout_ms=100, max_records=1)
            for tp, records in fetched.items():
                for record in records:
                    started = started or time.monotonic()
                    await _one(ctx, record)
                    await consumer.commit({tp: record.offset + 1})
                    done += 1
            await asyncio.sleep(0)
    return done


async def _one(ctx: Context, record: object) -> None:
    post = decode(POST_ADAPTER, record.value)  # type: ignore[attr-defined]
    if not isinstance(post, TextPost):
        return
    response = await ctx.mistral.moderate([post.text])
    verdict = response.results[0]
    delivery = Delivery(
        topic=record.topic,  # type: ignore[attr-defined]
        partition=record.partition,  # type: ignore[attr-defined]
        offset=record.offset,  # type: ignore[attr-defined]
        key=record.key,  # type: ignore[attr-defined]
        value=record.value,  # type: ignore[attr-defined]
        timestamp_ms=record.timestamp,  # type: ignore[attr-defined]
        headers=(),
    )
    result = ItemResult(
        kind="post",
        message=post,
        delivery=delivery,
        content_sha256=sha256_hex(post.text),
        content_size=len(post.text),
        content=post.text,
        judgement=ctx.policy.judge(verdict.categories, verdict.category_scores),
        model=response.model,
    )
    async with ctx.database.sessions.begin() as session:
        await store_result(
            session,
            result,
            policy=ctx.policy,
            retention=ctx.retention,
            flagged_topic=ctx.settings.topics.flagged,
        )
