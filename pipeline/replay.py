"""``modocr dlq replay``: re-submit dead-lettered messages once their cause is fixed.

Reads ``modocr.dlq`` with its own consumer group (``modocr.dlq-replay``), so each record is
replayed once; matching records are published back to their source topic with their key.
Records without a payload (ZDR) cannot be replayed and are counted as such.
"""

from __future__ import annotations

import base64
import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.kafka.client import Publisher, open_consumer
from pipeline.kafka.codec import decode
from pipeline.kafka.runner import ConsumeOptions, Outcome, Runner
from schemas.dlq import DEAD_LETTER_ADAPTER, DeadLetter

if TYPE_CHECKING:
    import asyncio

    from pipeline.kafka.records import Decoded, Delivery
    from pipeline.settings import Settings

logger = logging.getLogger(__name__)

REPLAY_GROUP = "modocr.dlq-replay"


@dataclass(frozen=True)
class ReplayFilter:
    """Which dead letters to replay (``None``: any)."""

    error_type: str | None = None
    worker: str | None = None
    dry_run: bool = False


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    without_payload: int = 0
    unreadable: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


async def _replay(
    publisher: Publisher,
    rules: ReplayFilter,
    report: ReplayReport,
    batch: list[Decoded[DeadLetter]],
) -> list[Outcome]:
    for decoded in batch:
        letter = decoded.message
        if (rules.error_type and letter.error_type != rules.error_type) or (
            rules.worker and letter.worker != rules.worker
        ):
            report.skipped += 1
            continue
        if letter.payload_base64 is None:
            report.without_payload += 1
            continue
        if not rules.dry_run:
            await publisher.publish(
                letter.source_topic,
                base64.b64decode(letter.payload_base64),
                key=letter.key.encode() if letter.key is not None else None,
                headers=[("replayed_from", letter.event_id.encode())],
            )
        report.replayed += 1
        report.by_error[letter.error_type] = report.by_error.get(letter.error_type, 0) + 1
    return [None] * len(batch)


async def replay_dead_letters(
    settings: Settings,
    bootstrap: str,
    publisher: Publisher,
    rules: ReplayFilter,
    stop: asyncio.Event,
) -> ReplayReport:
    """Replay what the DLQ holds now (burst), then return what was done."""
    report = ReplayReport()

    async def unreadable(delivery: Delivery, error: BaseException, _attempts: int) -> None:
        report.unreadable += 1
        logger.warning("dlq replay: %s unreadable (%s), skipped", delivery.position, error)

    async with open_consumer(
        bootstrap,
        REPLAY_GROUP,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
    ) as consumer:
        runner: Runner[DeadLetter] = Runner(
            consumer,
            [settings.topics.dlq],
            functools.partial(decode, DEAD_LETTER_ADAPTER),
            functools.partial(_replay, publisher, rules, report),
            unreadable,
            ConsumeOptions(batch_max=200, burst=True),
            name="dlq-replay",
        )
        await runner.run(stop)
    return report
