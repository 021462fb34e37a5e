"""The outbox relay: publishes outbox rows to their topics, then marks them published.

At least once: a crash between publish and mark republishes the same ``event_id`` (consumers
dedupe on it). On PostgreSQL several relays run safely side by side (``FOR UPDATE SKIP
LOCKED``); on SQLite run one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipeline.db import queries
from pipeline.db.base import utcnow
from pipeline.db.engine import translate_db_errors
from pipeline.errors import TransientError
from pipeline.lifecycle import wait_any, wait_stopped
from pipeline.worker import LoopSpec

if TYPE_CHECKING:
    import asyncio

    from pipeline.worker import Context

logger = logging.getLogger(__name__)


async def relay_once(ctx: Context) -> int:
    """Publish one batch of unpublished outbox rows; return how many.

    The rows are marked published in the transaction that holds them while they are sent:
    on PostgreSQL as they are claimed (one statement), on SQLite after the broker's
    acknowledgement (an SQLite write would hold the whole database while publishing).
    """
    limit = ctx.settings.worker.relay_batch
    marked = ctx.database.dialect == "postgresql"
    with translate_db_errors():
        async with ctx.database.sessions.begin() as session:
            rows = await (
                queries.claim_and_mark_outbox(session, limit, utcnow())
                if marked
                else queries.claim_unpublished_outbox(session, limit)
            )
            if not rows:
                return 0
            await ctx.publisher.publish_many(
                [
                    (
                        row.topic,
                        row.key.encode() if row.key is not None else None,
                        row.value.encode(),
                        [("event_id", row.event_id.encode())],
                    )
                    for row in rows
                ]
            )
            if not marked:
                await queries.mark_published(session, [row.id for row in rows], utcnow())
            return len(rows)


async def publish_staged(ctx: Context) -> None:
    """A handler has just stored flagged items: publish them now, from its own task.

    On PostgreSQL relays claim disjoint rows, so the handler runs a relay pass itself instead of
    waiting for the relay loop, which may be in the middle of publishing an earlier batch (at
    half load in ``latency``, that wait was the relay stage's tail: p99 77-191 ms). Elsewhere,
    or when the pass fails (the broker is away), the relay loop is woken and does it, retrying.
    The items are stored either way; their events are in the outbox until published.
    """
    if ctx.database.dialect == "postgresql":
        try:
            await relay_once(ctx)
        except TransientError as exc:
            logger.warning("relay: publishing after the store failed (%s)", type(exc).__name__)
        else:
            return
    ctx.outbox_staged.set()


async def run(ctx: Context, stop: asyncio.Event, inputs_drained: asyncio.Event | None) -> int:
    """Relay until stopped; in burst mode, until the inputs are drained and the outbox empty."""
    total = 0
    idle_s = ctx.settings.worker.relay_idle_s
    failures = 0
    while not stop.is_set():
        drained_before = inputs_drained is not None and inputs_drained.is_set()
        ctx.outbox_staged.clear()
        try:
            published = await relay_once(ctx)
        except TransientError as exc:
            failures += 1
            delay = min(ctx.settings.worker.retry_pause_s * failures, 60.0)
            logger.warning("relay: %s; retrying in %.1fs", type(exc).__name__, delay)
            await wait_stopped(stop, delay)
            continue
        failures = 0
        total += published
        if published:
            logger.debug("relay: published %d event(s)", published)
            continue
        if drained_before:
            break
        await wait_any(stop, ctx.outbox_staged, timeout_s=idle_s)
    return total


SPEC = LoopSpec(name="relay", run=run)
