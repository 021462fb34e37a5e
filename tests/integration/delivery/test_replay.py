"""`modocr dlq replay`: once the cause is fixed, a dead-lettered message is processed."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from pipeline.db.models import Item
from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.replay import ReplayFilter, replay_dead_letters
from pipeline.runtime import create_topics, open_context, run_workers
from pipeline.submit import record_for, send
from schemas.documents import UrlDocument
from tests.kafka_fixtures import pipeline_settings
from workers import REGISTRY

if TYPE_CHECKING:
    from pipeline.settings import TopicSettings
    from pipeline.worker import Context

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

PDF = Path(__file__).resolve().parents[3] / "samples" / "documents" / "minutes-text-layer.pdf"


async def status_of(ctx: Context, tenant: str) -> str:
    async with ctx.database.sessions() as session:
        item = (await session.execute(select(Item).where(Item.tenant == tenant))).scalar_one()
        return item.status


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_replay_after_the_cause_is_fixed(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    """A URL Mistral could not fetch is dead-lettered; once it can, a replay processes it."""
    tenant = f"replay-{uuid.uuid4().hex[:8]}"
    url = f"https://files.example.com/{tenant}.pdf"
    settings = pipeline_settings(db_url, broker, topics)
    local_api = LocalApi(api_key=LOCAL_API_KEY)
    specs = [REGISTRY["ocr"], REGISTRY["relay"]]
    async with open_context(settings, broker, local_api=local_api) as ctx:
        await create_topics(settings, broker)
        document = UrlDocument(
            id="doc",
            tenant=tenant,
            source="uploads",
            kind="url",
            content_type="application/pdf",
            url=url,
        )
        await send(ctx.publisher, [record_for(topics.documents, document)])
        await run_workers(ctx, broker, specs, stop=asyncio.Event(), burst=True)
        assert await status_of(ctx, tenant) == "failed"

        async def replay(rules: ReplayFilter) -> int:
            report = await replay_dead_letters(
                topics.dlq, broker, ctx.database, ctx.publisher, rules
            )
            return report.replayed

        assert await replay(ReplayFilter(worker="moderation")) == 0  # filtered out
        assert await replay(ReplayFilter(dry_run=True)) == 1
        local_api.register_url(url, PDF.read_bytes(), "application/pdf")  # the cause, fixed
        assert await replay(ReplayFilter(error_type="MistralRejectedError")) == 1
        await run_workers(ctx, broker, specs, stop=asyncio.Event(), burst=True)
        assert await status_of(ctx, tenant) == "processed"
        assert await replay(ReplayFilter()) == 0  # nothing failed is left to replay
