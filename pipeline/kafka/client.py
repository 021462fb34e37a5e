"""Consumer, producer and admin factories; with runner.py, the only importers of aiokafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from pipeline.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)

PartitionsCallback = Callable[[set[tuple[str, int]]], Awaitable[None]]


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards aiokafka's rebalance callbacks as plain (topic, partition) sets."""

    def __init__(self, on_revoked: PartitionsCallback, on_assigned: PartitionsCallback) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        await self._on_assigned({(tp.topic, tp.partition) for tp in assigned})


@contextlib.asynccontextmanager
async def _running(client: Any, bootstrap_servers: str) -> AsyncIterator[None]:  # noqa: ANN401
    """Start an aiokafka consumer or producer, stop it on exit; no broker → a transient error."""
    try:
        await client.start()
    except KafkaError as exc:
        await client.stop()
        raise BrokerUnavailableError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    try:
        yield
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def open_consumer(
    bootstrap_servers: str,
    group_id: str,
    *,
    client_id: str = "modocr",
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 3_000,
    max_poll_records: int = 500,
    fetch_max_wait_ms: int = 100,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started group consumer with manual commits; stopped (leaving the group) on exit."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        max_poll_records=max_poll_records,
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=32 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    async with _running(consumer, bootstrap_servers):
        yield consumer


@contextlib.asynccontextmanager
async def open_producer(
    bootstrap_servers: str,
    *,
    client_id: str = "modocr",
    max_request_size: int = 16 * 1024 * 1024,
    compression_type: str | None = None,
    linger_ms: int = 5,
) -> AsyncIterator[AIOKafkaProducer]:
    """A started plain producer (acks=all; Tansu refuses idempotent/transactional ones)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        max_request_size=max_request_size,
        compression_type=compression_type,
        linger_ms=linger_ms,
        request_timeout_ms=30_000,
    )
    async with _running(producer, bootstrap_servers):
        yield producer


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send one record and wait for the broker's acknowledgement."""
    try:
        await producer.send_and_wait(topic, value, key=key, headers=list(headers) or None)
    except (KafkaConnectionError, KafkaError) as exc:
        raise BrokerUnavailableError(f"publish to {topic} failed: {exc}") from exc


async def publish_many(
    producer: AIOKafkaProducer,
    records: Sequence[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]],
) -> None:
    """Send ``(topic, key, value, headers)`` records pipelined; wait until all are acknowledged.

    Every acknowledgement is awaited, failed or not, before the first failure is raised (so none
    is left unretrieved); the caller then retries the whole batch (at least once).
    """
    futures = []
    try:
        for topic, key, value, headers in records:
            futures.append(
                await producer.send(topic, value, key=key, headers=list(headers) or None)
            )
    except (KafkaConnectionError, KafkaError) as exc:
        await asyncio.gather(*futures, return_exceptions=True)
        raise BrokerUnavailableError(f"publish of {len(records)} records failed: {exc}") from exc
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        first = failures[0]
        if not isinstance(first, KafkaError):
            raise first
        raise BrokerUnavailableError(
            f"publish failed for {len(failures)} of {len(records)} records: {first!r}"
        ) from first


async def ensure_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int = 6) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="modocr-admin")
    try:
        await admin.start()
    except KafkaError as exc:
        await admin.close()
        raise BrokerUnavailableError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
            except TopicAlreadyExistsError:
                logger.debug("topics created concurrently: %s", missing)
            logger.info("created topics %s (%d partitions)", ", ".join(missing), partitions)
    finally:
        await admin.close()


class Publisher:
    """What workers get to publish with: no aiokafka types outside this package."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Send one record; return once the broker acknowledged it."""
        await publish(self._producer, topic, value, key=key, headers=headers)

    async def publish_many(
        self, records: Sequence[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        """Send ``(topic, key, value, headers)`` records; return once all are acknowledged."""
        await publish_many(self._producer, records)


TopicRecord = tuple[bytes | None, bytes, dict[str, bytes]]
"""A record as read back: (key, value, headers)."""


async def read_topic(bootstrap: str, topic: str, *, max_idle_polls: int = 50) -> list[TopicRecord]:
    """Every record of ``topic`` up to each partition's high-water mark (no consumer group).

    For checks and tools, not for processing: it holds everything in memory.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    async with _running(consumer, bootstrap):
        tps = await _partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[TopicRecord] = []
        idle = 0
        while idle < max_idle_polls:
            batch = await consumer.getmany(timeout_ms=100)
            idle = 0 if batch else idle + 1
            for tp_records in batch.values():
                records.extend((r.key, r.value, dict(r.headers or ())) for r in tp_records)
            if await _at_highwater(consumer, tps):
                break
        return records


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[Any]:
    """The topic's partitions, refreshing metadata once if the consumer does not know them."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def _at_highwater(consumer: AIOKafkaConsumer, tps: list[Any]) -> bool:
    for tp in tps:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True


async def committed_lag(bootstrap: str, group_id: str, topic: str) -> dict[int, tuple[int, int]]:
    """Per partition of ``topic``: (the group's committed offset, the high-water mark).

    The high-water comes from a fetch (Tansu's ListOffsets is wrong, see engines.md).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    async with _running(consumer, bootstrap):
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        committed = {tp.partition: (await consumer.committed(tp)) or 0 for tp in tps}
        await consumer.seek_to_beginning(*tps)
        for _ in range(50):
            if all(consumer.highwater(tp) is not None for tp in tps):
                break
            await consumer.getmany(timeout_ms=100, max_records=1)
        return {tp.partition: (committed[tp.partition], consumer.highwater(tp) or 0) for tp in tps}
