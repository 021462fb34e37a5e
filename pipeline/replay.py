"""``modocr dlq replay``: re-submit dead-lettered messages once their cause is fixed.

Reads the whole DLQ and replays each dead letter whose item is still failed in the database,
publishing its original record back to the source topic with its key. A replayed message that
succeeds turns the failed item into a processed one, so replaying again sends it no more;
replaying is always safe because inputs are idempotent. Dead letters without a payload (ZDR)
cannot be replayed and are counted as such.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from pipeline.db.engine import translate_db_errors
from pipeline.db.models import Item
from pipeline.errors import InvalidMessageError
from pipeline.kafka.client import read_topic
from pipeline.kafka.codec import decode
from schemas.dlq import DEAD_LETTER_ADAPTER, DeadLetter

if TYPE_CHECKING:
    from pipeline.db.engine import Database
    from pipeline.kafka.client import Publisher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayFilter:
    """Which dead letters to replay (``None``: any)."""

    error_type: str | None = None
    worker: str | None = None
    dry_run: bool = False


@dataclass
class ReplayReport:
    """What a replay did, by outcome."""

    replayed: int = 0
    skipped: int = 0
    already_done: int = 0
    without_payload: int = 0
    unreadable: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


def _identity(letter: DeadLetter) -> tuple[str, str, str]:
    """The failed item's key, as the dead-letter path stored it."""
    return (
        letter.tenant or "unknown",
        letter.source or "unknown",
        letter.external_id or f"{letter.source_topic}:{letter.partition}:{letter.offset}",
    )


async def _still_failed(database: Database, letters: list[DeadLetter]) -> set[tuple[str, str, str]]:
    keys = {_identity(letter) for letter in letters}
    if not keys:
        return set()
    with translate_db_errors():
        async with database.sessions() as session:
            rows = await session.execute(
                select(Item.tenant, Item.source, Item.external_id).where(
                    Item.external_id.in_({k[2] for k in keys}), Item.status == "failed"
                )
            )
            return {(t, s, e) for t, s, e in rows.all()} & keys


async def replay_dead_letters(
    dlq_topic: str,
    bootstrap: str,
    database: Database,
    publisher: Publisher,
    rules: ReplayFilter,
) -> ReplayReport:
    """Replay the dead letters of ``dlq_topic`` that match ``rules`` and are still failed."""
    report = ReplayReport()
    letters: list[DeadLetter] = []
    for _, value, _ in await read_topic(bootstrap, dlq_topic):
        try:
            letters.append(decode(DEAD_LETTER_ADAPTER, value))
        except InvalidMessageError as exc:
            report.unreadable += 1
            logger.warning("dlq replay: unreadable dead letter skipped (%s)", exc)
    failed = await _still_failed(database, letters)
    seen: set[tuple[str, str, str]] = set()
    for letter in letters:
        key = _identity(letter)
        if (rules.error_type and letter.error_type != rules.error_type) or (
            rules.worker and letter.worker != rules.worker
        ):
            report.skipped += 1
        elif key not in failed or key in seen:
            report.already_done += 1
        elif letter.payload_base64 is None:
            report.without_payload += 1
        else:
            seen.add(key)
            if not rules.dry_run:
                await publisher.publish(
                    letter.source_topic,
                    base64.b64decode(letter.payload_base64),
                    key=letter.key.encode() if letter.key is not None else None,
                    headers=[("replayed_from", letter.event_id.encode())],
                )
            report.replayed += 1
            report.by_error[letter.error_type] = report.by_error.get(letter.error_type, 0) + 1
    return report
