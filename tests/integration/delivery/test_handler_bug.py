"""A bug in a handler: the message is dead-lettered with the exception's type and place."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest

from pipeline.kafka.runner import ConsumeOptions, Outcome
from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.runtime import create_topics, open_context, run_workers
from pipeline.submit import record_for, send
from pipeline.worker import ConsumerSpec
from schemas.dlq import DEAD_LETTER_ADAPTER
from schemas.posts import POST_ADAPTER, ConversationPost, TextPost
from tests.kafka_fixtures import pipeline_settings, read_topic

if TYPE_CHECKING:
    from pipeline.kafka.records import Decoded
    from pipeline.settings import TopicSettings
    from pipeline.worker import Context

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]


async def buggy(_: Context, batch: list[Decoded[TextPost | ConversationPost]]) -> list[Outcome]:
    for decoded in batch:
        if isinstance(decoded.message, TextPost) and "boom" in decoded.message.text:
            raise ValueError("cannot handle " + decoded.message.text)
    return [None] * len(batch)


SPEC: ConsumerSpec[TextPost | ConversationPost] = ConsumerSpec(
    name="buggy",
    item_kind="post",
    topic=lambda topics: topics.posts,
    adapter=POST_ADAPTER,
    handle=buggy,
    options=lambda _: ConsumeOptions(batch_max=8),
)


@pytest.mark.parametrize("zdr", [False, True], ids=["zdr-off", "zdr-on"])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_handler_bug_dead_letters_only_the_poison_message(
    db_url: str, broker: str, topics: TopicSettings, zdr: bool
) -> None:
    """The batch is split to find the poison; it alone is dead-lettered, by type and place."""
    settings = pipeline_settings(db_url, broker, topics, zdr=zdr)
    tenant = f"bug-{uuid.uuid4().hex[:8]}"
    posts = [
        TextPost(id=f"p{i}", tenant=tenant, source="s", text="boom CANARY-4411" if i == 3 else "ok")
        for i in range(6)
    ]
    async with open_context(settings, broker, local_api=LocalApi(LOCAL_API_KEY)) as ctx:
        await create_topics(settings, broker)
        await send(ctx.publisher, [record_for(topics.posts, p) for p in posts])
        async with asyncio.timeout(90):
            report = await run_workers(ctx, broker, [SPEC], stop=asyncio.Event(), burst=True)

    dead = [
        DEAD_LETTER_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.dlq)
    ]
    assert [d.external_id for d in dead] == ["p3"]
    assert dead[0].error_type == "ValueError"
    assert "test_handler_bug.py" in dead[0].reason
    assert ("CANARY-4411" in dead[0].reason) is not zdr
    assert report.consumers["buggy"].handled == 5
