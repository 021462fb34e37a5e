"""A fault storm upstream (20% 5xx, 10% 429, 5% hangs, 2% malformed): nothing lost or DLQ'd."""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import stamina
from sqlalchemy import func, select

from pipeline.db.models import Item
from pipeline.localapi.app import LocalApi
from pipeline.localapi.faults import Faults
from pipeline.localapi.server import serve_local_api
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.runtime import create_topics, open_context, run_workers
from pipeline.submit import record_for, send
from schemas.documents import InlineDocument
from schemas.posts import TextPost
from tests.kafka_fixtures import pipeline_settings, read_topic
from workers import REGISTRY

if TYPE_CHECKING:
    from pipeline.settings import TopicSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "documents"
POSTS = 160
DOCUMENTS = 8


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_everything_is_processed_through_a_fault_storm(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    """All inputs processed, the DLQ empty, and no request sooner than a 429's Retry-After."""
    stamina.set_testing(False)  # real backoff: this test is about waiting long enough
    faults = Faults(
        error_rate=0.20,
        rate_limit_rate=0.10,
        rate_limit_retry_after_s=1,
        hang_rate=0.05,
        hang_s=30.0,
        malformed_rate=0.02,
        seed=5,
    )
    local_api = LocalApi(api_key=LOCAL_API_KEY, faults=faults)
    tenant = f"storm-{uuid.uuid4().hex[:8]}"
    async with serve_local_api(local_api) as base_url:
        settings = pipeline_settings(
            db_url,
            broker,
            topics,
            mistral={
                "base_url": base_url,
                "timeout_s": 1.0,
                "retry_attempts": 4,
                "retry_timeout_s": 20.0,
            },
            worker={
                "moderation_batch_max": 4,
                "moderation_concurrency": 1,
                "ocr_concurrency": 1,
                "retry_pause_s": 0.5,
            },
        )
        async with open_context(settings, broker) as ctx:
            await create_topics(settings, broker)
            posts = [
                TextPost(id=f"p{i}", tenant=tenant, source="storm", text=f"Hello number {i}")
                for i in range(POSTS)
            ]
            pdf = base64.b64encode((SAMPLES / "minutes-text-layer.pdf").read_bytes()).decode()
            documents = [
                InlineDocument(
                    id=f"d{i}",
                    tenant=tenant,
                    source="storm",
                    content_type="application/pdf",
                    data_base64=pdf,
                )
                for i in range(DOCUMENTS)
            ]
            await send(ctx.publisher, [record_for(topics.posts, p) for p in posts])
            await send(ctx.publisher, [record_for(topics.documents, d) for d in documents])
            # One worker at a time, one request in flight: each 429's successor is a retry.
            for name in ("moderation", "ocr"):
                async with asyncio.timeout(240):
                    await run_workers(
                        ctx, broker, [REGISTRY[name]], stop=asyncio.Event(), burst=True
                    )
            async with ctx.database.sessions() as session:
                statuses = dict(
                    iter(
                        (
                            await session.execute(
                                select(Item.status, func.count())
                                .where(Item.tenant == tenant)
                                .group_by(Item.status)
                            )
                        ).tuples()
                    )
                )
    stamina.set_testing(True, attempts=3)

    assert statuses == {"processed": POSTS + DOCUMENTS}
    assert await read_topic(broker, topics.dlq) == []
    log = list(local_api.requests)
    seen = {r.fault for r in log}
    assert {"server_error", "rate_limited", "hang", "malformed"} <= seen, seen
    for before, after in itertools.pairwise(log):
        if before.status == 429 and before.retry_after:
            assert after.time >= before.time + before.retry_after - 0.05, (before, after)
