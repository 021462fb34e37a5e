"""Broker fixtures (a pytest plugin): one embedded Tansu per test session, fresh topics per test.

``broker`` is the bootstrap address; ``topics`` a fresh ``TopicSettings`` (``t-<hex>.posts``,
...); ``read_topic()`` reads a whole topic without a consumer group.
"""

from __future__ import annotations

import os
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


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``modocr run`` process for these settings' database, broker, topics."""
    topics = settings.topics
    return {
        **os.environ,
        "MODOCR_DATABASE_URL": settings.database_url.get_secret_value(),
        "MODOCR_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "MODOCR_KAFKA__SESSION_TIMEOUT_MS": str(settings.kafka.session_timeout_ms),
        "MODOCR_KAFKA__HEARTBEAT_INTERVAL_MS": str(settings.kafka.heartbeat_interval_ms),
        "MODOCR_TOPICS__POSTS": topics.posts,
        "MODOCR_TOPICS__DOCUMENTS": topics.documents,
        "MODOCR_TOPICS__FLAGGED": topics.flagged,
        "MODOCR_TOPICS__DECISIONS": topics.decisions,
        "MODOCR_TOPICS__DLQ": topics.dlq,
        "MODOCR_MISTRAL__BASE_URL": "local",
        **extra,
    }
