"""Broker fixtures (a pytest plugin): one embedded Tansu per test session, fresh topics per test.

``broker`` is the bootstrap address; ``topics`` a fresh ``TopicSettings`` (``t-<hex>.posts``,
...); ``read_topic()`` reads a whole topic without a consumer group.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.kafka.broker import open_embedded_broker
from pipeline.settings import KafkaSettings, Settings, TopicSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(scope="session")
async def broker() -> AsyncIterator[str]:
    """The bootstrap address of a Tansu broker started for this test session."""
    async with open_embedded_broker() as bootstrap:
        yield bootstrap


def fresh_topics() -> TopicSettings:
    """Topic names no other test uses."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    return TopicSettings(
        posts=f"{prefix}.posts",
        documents=f"{prefix}.documents",
        flagged=f"{prefix}.flagged",
        decisions=f"{prefix}.decisions",
        dlq=f"{prefix}.dlq",
    )


@pytest.fixture
def topics() -> TopicSettings:
    return fresh_topics()


def pipeline_settings(db_url: str, bootstrap: str, topics: TopicSettings, **extra: Any) -> Settings:
    """Settings for a test run: its database, the test broker (fast group joins), its topics."""
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000
    )
    return Settings.model_validate(
        {"database_url": db_url, "kafka": kafka, "topics": topics, **extra}
    )


TopicRecord = tuple[bytes | None, bytes, dict[str, bytes]]


async def read_topic(bootstrap: str, topic: str) -> list[TopicRecord]:
    """Every record of ``topic`` as (key, value, headers), up to each partition's high-water."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer.client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[TopicRecord] = []
        done: set[TopicPartition] = set()
        empty_polls = 0
        while len(done) < len(tps) and empty_polls < 50:
            batch = await consumer.getmany(timeout_ms=100)
            empty_polls = 0 if batch else empty_polls + 1
            for tp_records in batch.values():
                records.extend((r.key, r.value, dict(r.headers or ())) for r in tp_records)
            for tp in tps:
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) >= high:
                    done.add(tp)
        return records
    finally:
        await consumer.stop()
