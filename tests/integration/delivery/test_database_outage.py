"""The database unreachable for over 10 s: workers wait and recover; nothing lost or duplicated."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from pipeline.db.engine import translate_db_errors
from pipeline.db.models import WHOLE_ITEM, Flag, Item, Outbox, Verdict
from pipeline.errors import PipelineError
from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.runtime import create_topics, open_context, run_workers
from pipeline.submit import record_for, send
from schemas.flagged import FLAGGED_ADAPTER
from schemas.posts import TextPost
from tests.kafka_fixtures import pipeline_settings, read_topic
from tests.polling import eventually
from tests.tcp_proxy import open_proxy
from workers import REGISTRY

if TYPE_CHECKING:
    from pipeline.settings import TopicSettings
    from pipeline.worker import Context

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

OUTAGE_S = 12.0


async def all_processed(ctx: Context, tenant: str, count: int) -> bool:
    """Whether ``count`` items are processed and all events published (False while offline)."""
    try:
        with translate_db_errors():
            async with ctx.database.sessions() as session:
                done = await session.scalar(
                    select(func.count())
                    .select_from(Item)
                    .where(Item.tenant == tenant, Item.status == "processed")
                )
                unpublished = await session.scalar(
                    select(func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))
                )
    except PipelineError:
        return False
    return done == count and unpublished == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_workers_ride_out_a_database_outage(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    """Posts sent before, during and after a 12 s outage are each stored once and published."""
    real = make_url(db_url)
    tenant = f"outage-{uuid.uuid4().hex[:8]}"
    async with open_proxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = pipeline_settings(
            proxied,
            broker,
            topics,
            worker={"moderation_batch_max": 8, "retry_pause_s": 0.5, "relay_idle_s": 0.1},
        )
        local_api = LocalApi(api_key=LOCAL_API_KEY)
        async with open_context(settings, broker, local_api=local_api) as ctx:
            await create_topics(settings, broker)
            stop = asyncio.Event()
            specs = [REGISTRY["moderation"], REGISTRY["relay"]]
            workers = asyncio.create_task(run_workers(ctx, broker, specs, stop=stop))
            batches = [
                [
                    TextPost(
                        id=f"{phase}-{i}",
                        tenant=tenant,
                        source="outage",
                        text="You are a fucking idiot." if i % 4 == 0 else f"Fine day {i}",
                    )
                    for i in range(60)
                ]
                for phase in ("before", "during", "after")
            ]
            await send(ctx.publisher, [record_for(topics.posts, p) for p in batches[0]])
            await proxy.cut()
            await send(ctx.publisher, [record_for(topics.posts, p) for p in batches[1]])
            await asyncio.sleep(OUTAGE_S)  # the outage itself: time is what is being tested
            await proxy.restore()
            await send(ctx.publisher, [record_for(topics.posts, p) for p in batches[2]])
            await eventually(lambda: all_processed(ctx, tenant, 180), timeout_s=180, interval_s=0.5)
            stop.set()
            report = await workers
            async with ctx.database.sessions() as session:
                items = await session.scalar(
                    select(func.count()).select_from(Item).where(Item.tenant == tenant)
                )
                verdicts = await session.scalar(
                    select(func.count())
                    .select_from(Verdict)
                    .join(Item, Item.id == Verdict.item_id)
                    .where(Item.tenant == tenant, Verdict.page_index == WHOLE_ITEM)
                )
                flags = await session.scalar(
                    select(func.count())
                    .select_from(Flag)
                    .join(Item, Item.id == Flag.item_id)
                    .where(Item.tenant == tenant)
                )

    assert report.consumers["moderation"].retries > 0  # the outage was felt
    assert items == 180
    assert verdicts == 180
    assert flags == 45
    events = [
        FLAGGED_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.flagged)
    ]
    assert len({e.event_id for e in events}) == 45
    assert {e.tenant for e in events} == {tenant}
    assert await read_topic(broker, topics.dlq) == []
