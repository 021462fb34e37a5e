"""Searching what modocr keeps: every row of every table, every record of its output topics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, select

from pipeline.kafka.client import open_consumer
from pipeline.kafka.runner import ConsumeOptions, Runner
from pipeline.zdr.canaries import find_canaries
from pipeline.zdr.report import Finding

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection

    from pipeline.db.engine import Database
    from pipeline.kafka.records import Decoded, Delivery
    from pipeline.kafka.runner import Outcome
    from pipeline.settings import Settings


async def read_topics(settings: Settings, bootstrap: str, topics: Sequence[str]) -> list[Delivery]:
    """Every record of ``topics`` (a fresh consumer group, burst mode: up to the end offsets)."""
    seen: list[Delivery] = []

    async def collect(batch: list[Decoded[bytes | None]]) -> list[Outcome]:
        seen.extend(d.delivery for d in batch)
        return [None] * len(batch)

    async def never(delivery: Delivery, error: BaseException, attempts: int) -> None:
        del error, attempts
        seen.append(delivery)

    async with open_consumer(
        bootstrap,
        f"modocr.zdr-check-{uuid.uuid4().hex}",
        client_id=f"{settings.kafka.client_id}-zdr-check",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
    ) as consumer:
        runner: Runner[bytes | None] = Runner(
            consumer,
            list(topics),
            _raw,
            collect,
            never,
            ConsumeOptions(batch_max=500, burst=True),
            name="zdr-check",
        )
        await runner.run(asyncio.Event())
    return seen


def _raw(value: bytes | None) -> bytes | None:
    return value


async def scan_database(database: Database, canaries: dict[str, str]) -> tuple[list[Finding], int]:
    """Every row of every table in the database (reflected, so none is missed)."""
    findings: list[Finding] = []
    rows = 0
    async with database.engine.connect() as connection:
        metadata = await _reflect(connection)
        for table in metadata.sorted_tables:
            result = await connection.execute(select(table))
            for row in result.mappings():
                rows += 1
                for column, value in row.items():
                    for place in find_canaries(_text(value), canaries):
                        key = _row_key(table.primary_key.columns.keys(), row)
                        findings.append(Finding(place, f"database {table.name}.{column} ({key})"))
    return findings, rows


async def _reflect(connection: AsyncConnection) -> MetaData:
    metadata = MetaData()
    await connection.run_sync(lambda sync: metadata.reflect(sync))
    return metadata


def _row_key(columns: list[str], row: Any) -> str:  # noqa: ANN401 - a SQLAlchemy RowMapping
    return ", ".join(f"{c}={row[c]}" for c in columns) or "no primary key"


def _text(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, datetime | date | int | float):
        return b""
    return str(value).encode("utf-8", "surrogatepass")
