"""SIGTERM under load: exit within the grace period, commit what is done, redo nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from pipeline.db.engine import open_database
from pipeline.db.models import Item
from pipeline.kafka.client import Publisher, committed_lag, open_producer
from pipeline.localapi.app import LocalApi
from pipeline.localapi.faults import Faults
from pipeline.localapi.server import serve_local_api
from pipeline.runtime import create_topics
from pipeline.submit import record_for, send
from schemas.posts import TextPost
from tests.kafka_fixtures import pipeline_settings, worker_env
from tests.polling import eventually

if TYPE_CHECKING:
    from pipeline.settings import Settings, TopicSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

POSTS = 3000
GRACE_S = 5.0


def moderation_env(settings: Settings, base_url: str) -> dict[str, str]:
    return worker_env(
        settings,
        MODOCR_MISTRAL__BASE_URL=base_url,
        MODOCR_WORKER__MODERATION_BATCH_MAX="16",
        MODOCR_WORKER__SHUTDOWN_GRACE_S=str(GRACE_S),
    )


async def count_items(url: str, tenant: str) -> int:
    async with open_database(url) as db, db.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Item).where(Item.tenant == tenant)
            )
            or 0
        )


async def start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--worker",
        "moderation",
        *args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_sigterm_under_load_then_restart_redoes_nothing(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    """Exit 0 within the grace period; stored == committed; the restart moderates only the rest."""
    tenant = f"term-{uuid.uuid4().hex[:8]}"
    settings = pipeline_settings(db_url, broker, topics)
    local_api = LocalApi(faults=Faults(latency_ms=100.0))
    await create_topics(settings, broker)
    posts = [
        TextPost(id=f"p{i}", tenant=tenant, source="term", text=f"Message number {i}")
        for i in range(POSTS)
    ]
    async with open_producer(broker) as producer:
        await send(Publisher(producer), [record_for(topics.posts, p) for p in posts])

    async with serve_local_api(local_api) as base_url:
        env = moderation_env(settings, base_url)
        worker = await start(env=env)

        async def some_done() -> bool:
            return await count_items(db_url, tenant) >= POSTS // 5

        await eventually(some_done, timeout_s=120)
        worker.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        async with asyncio.timeout(GRACE_S + 20):
            _, stderr = await worker.communicate()
        exit_s = time.monotonic() - signalled
        assert worker.returncode == 0, stderr.decode()[-2000:]
        assert exit_s < GRACE_S + 3.0

        stored = await count_items(db_url, tenant)
        lag = await committed_lag(broker, "modocr.moderation", topics.posts)
        committed = sum(offset for offset, _ in lag.values())
        assert 0 < stored < POSTS
        assert committed == stored  # what is committed is stored, and nothing stored is uncommitted

        moderated_before = sum(r.inputs or 0 for r in local_api.requests if r.status == 200)
        restarted = await start("--burst", env=env)
        async with asyncio.timeout(180):
            _, stderr = await restarted.communicate()
        assert restarted.returncode == 0, stderr.decode()[-2000:]
        moderated_after = sum(r.inputs or 0 for r in local_api.requests if r.status == 200)

    assert await count_items(db_url, tenant) == POSTS
    reprocessed = (moderated_after - moderated_before) - (POSTS - stored)
    assert reprocessed == 0
    assert moderated_after == POSTS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_second_signal_exits_at_once(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    """With a request stuck upstream, the first SIGTERM waits; the second exits now (130)."""
    settings = pipeline_settings(db_url, broker, topics)
    local_api = LocalApi(faults=Faults(latency_ms=60_000.0))
    await create_topics(settings, broker)
    async with open_producer(broker) as producer:
        post = TextPost(id="stuck", tenant="sig", source="term", text="Stuck upstream")
        await send(Publisher(producer), [record_for(topics.posts, post)])
    async with serve_local_api(local_api) as base_url:
        env = {**moderation_env(settings, base_url), "MODOCR_WORKER__SHUTDOWN_GRACE_S": "60"}
        worker = await start(env=env)

        async def requested() -> bool:
            return bool(local_api.requests)

        await eventually(requested, timeout_s=60)
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert worker.returncode is None  # still finishing its in-flight request
        worker.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        async with asyncio.timeout(10):
            await worker.communicate()
    assert time.monotonic() - signalled < 5.0
    assert worker.returncode == 130
