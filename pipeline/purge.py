"""The retention purge: content older than ``MODOCR_RETENTION_DAYS`` is removed, results stay.

Items received before ``now - retention_days`` lose their text, filename, metadata and author,
and their pages lose their markdown; ``content_purged_at`` records when. Verdicts, flags,
decisions, hashes and sizes are kept. Runs periodically beside the workers (``SPEC``) and on
demand (``modocr retention purge``); the clock is injected so tests never wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import null, select, update

from pipeline.db.base import utcnow
from pipeline.db.engine import translate_db_errors
from pipeline.db.models import DocumentPage, Item
from pipeline.errors import TransientError
from pipeline.lifecycle import wait_stopped
from pipeline.worker import LoopSpec

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from datetime import datetime

    from pipeline.db.engine import Database
    from pipeline.retention import Retention
    from pipeline.worker import Context

logger = logging.getLogger(__name__)

PURGE_BATCH = 500
"""Items per transaction: short transactions, no long locks on ``items``."""
PURGE_INTERVAL_S = 3600.0
"""How often the periodic purge runs (seconds)."""


@dataclass(frozen=True)
class PurgeResult:
    """What one purge removed, and the cut-off it used."""

    cutoff: datetime
    items: int
    pages: int


async def purge_content(
    database: Database, retention: Retention, *, now: datetime, batch: int = PURGE_BATCH
) -> PurgeResult:
    """NULL the content of items received before ``retention.purge_before(now)``.

    Each batch of ``batch`` items is one transaction; an item is purged once
    (``content_purged_at`` is set to ``now``).

    Raises:
        DatabaseUnavailableError: the database is unreachable (retriable).
    """
    cutoff = retention.purge_before(now)
    items = pages = 0
    while True:
        with translate_db_errors():
            async with database.sessions.begin() as session:
                ids = list(
                    await session.scalars(
                        select(Item.id)
                        .where(Item.received_at < cutoff, Item.content_purged_at.is_(None))
                        .order_by(Item.id)
                        .limit(batch)
                    )
                )
                if not ids:
                    break
                cleared = await session.execute(
                    update(DocumentPage)
                    .where(DocumentPage.item_id.in_(ids), DocumentPage.markdown.is_not(None))
                    .values(markdown=None)
                    .execution_options(synchronize_session=False)
                )
                await session.execute(
                    update(Item)
                    .where(Item.id.in_(ids))
                    .values(
                        content=None,
                        filename=None,
                        metadata_json=null(),
                        author=None,
                        content_purged_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
        items += len(ids)
        pages += _rowcount(cleared)
        if len(ids) < batch:
            break
    if items:
        logger.info(
            "purge: content of %d item(s), %d page(s) received before %s", items, pages, cutoff
        )
    return PurgeResult(cutoff=cutoff, items=items, pages=pages)


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return count if isinstance(count, int) and count > 0 else 0


async def run_purge_loop(
    ctx: Context,
    stop: asyncio.Event,
    interval_s: float = PURGE_INTERVAL_S,
    *,
    inputs_drained: asyncio.Event | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Purge now, then every ``interval_s`` until ``stop``; return how many items were purged.

    With ``inputs_drained`` (burst mode) it purges once and returns. A database outage is
    logged and retried at the next interval.
    """
    total = 0
    while not stop.is_set():
        try:
            result = await purge_content(ctx.database, ctx.retention, now=clock())
        except TransientError as exc:
            logger.warning("purge: %s; retrying in %.0fs", type(exc).__name__, interval_s)
        else:
            total += result.items
        if inputs_drained is not None or await wait_stopped(stop, interval_s):
            break
    return total


async def run(ctx: Context, stop: asyncio.Event, inputs_drained: asyncio.Event | None) -> int:
    """``LoopSpec.run``: the periodic purge every ``PURGE_INTERVAL_S``."""
    return await run_purge_loop(ctx, stop, PURGE_INTERVAL_S, inputs_drained=inputs_drained)


SPEC = LoopSpec(name="purge", run=run)
"""Add to the worker set (``workers.REGISTRY``) to purge beside the workers."""
