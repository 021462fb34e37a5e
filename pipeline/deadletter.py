"""The dead-letter path: a failed item row, then a DLQ record acknowledged by the broker.

Only then may the runner commit the record's offset. Under ZDR the DLQ record carries no
payload (hash and position only) and the reason is value-free by construction.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

from pipeline.db.engine import translate_db_errors
from pipeline.errors import PipelineError
from pipeline.kafka.codec import encode, peek_identity
from pipeline.results import ItemKind, sha256_hex, store_failure
from schemas.dlq import DeadLetter

if TYPE_CHECKING:
    from pipeline.kafka.records import Delivery
    from pipeline.worker import Context

logger = logging.getLogger(__name__)


class DeadLetterSink:
    """Callable the runner hands each permanently failed record to."""

    def __init__(self, ctx: Context, *, worker: str, kind: ItemKind) -> None:
        self._ctx = ctx
        self._worker = worker
        self._kind = kind

    async def __call__(self, delivery: Delivery, error: BaseException, attempts: int) -> None:
        retention = self._ctx.retention
        identity = peek_identity(delivery.value)
        reason = retention.reason(_reason(error, zdr=retention.zdr))
        error_type = type(error).__name__
        with translate_db_errors():
            async with self._ctx.database.sessions.begin() as session:
                await store_failure(
                    session,
                    kind=self._kind,
                    delivery=delivery,
                    identity=identity,
                    error_type=error_type,
                    reason=reason,
                    attempts=attempts,
                )
        tenant, source, external_id = identity
        record = DeadLetter(
            worker=self._worker,
            source_topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            key=_text_key(delivery.key),
            error_type=error_type,
            reason=reason,
            attempts=attempts,
            tenant=tenant,
            source=source,
            external_id=external_id,
            payload_base64=retention.payload(delivery.value),
            payload_sha256=sha256_hex(delivery.value or b""),
        )
        headers = [
            ("event_id", record.event_id.encode()),
            ("error_type", error_type.encode()),
            ("source_topic", delivery.topic.encode()),
        ]
        await self._ctx.publisher.publish(
            self._ctx.settings.topics.dlq, encode(record), key=delivery.key, headers=headers
        )


def _reason(error: BaseException, *, zdr: bool) -> str:
    if isinstance(error, PipelineError):
        return str(error) or type(error).__name__
    # A bug: its message may quote data, so under ZDR only the frame is kept.
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    if zdr:
        return f"unexpected {type(error).__name__}{where}"
    return f"unexpected {type(error).__name__}{where}: {error}"


def _text_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return key.hex()
