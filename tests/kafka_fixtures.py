"""Broker fixtures (a pytest plugin): one embedded Tansu per test session, fresh topics per test.

``broker`` is the bootstrap address; ``topics`` a fresh ``TopicSettings`` (``t-<hex>.posts``,
...); ``read_topic()`` reads a whole topic without a consumer group.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from pipeline.kafka.broker import open_embedded_broker
from pipeline.kafka.client import TopicRecord
from pipeline.kafka.client import read_topic as kafka_read_topic
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


async def read_topic(bootstrap: str, topic: str) -> list[TopicRecord]:
    """Every record of ``topic`` as (key, value, headers)."""
    return await kafka_read_topic(bootstrap, topic)
