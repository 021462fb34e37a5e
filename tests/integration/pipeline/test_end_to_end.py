"""Posts and documents through the real broker, the local Mistral API and both databases."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from pipeline.db.models import DocumentPage, Flag, Item, Outbox, Verdict
from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.runtime import create_topics, open_context, run_workers
from pipeline.submit import record_for, send
from schemas.dlq import DEAD_LETTER_ADAPTER
from schemas.documents import InlineDocument
from schemas.flagged import FLAGGED_ADAPTER
from schemas.posts import ChatTurn, ConversationPost, TextPost
from tests.kafka_fixtures import pipeline_settings, read_topic, worker_env
from workers import REGISTRY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pipeline.settings import Settings, TopicSettings
    from pipeline.worker import Context

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples" / "documents"


@pytest.fixture(scope="session")
def local_api() -> LocalApi:
    """One local Mistral API for the session: its engines load once."""
    return LocalApi(api_key=LOCAL_API_KEY)


@pytest.fixture
def settings(db_url: str, broker: str, topics: TopicSettings) -> Settings:
    return pipeline_settings(db_url, broker, topics)


@pytest.fixture
async def ctx(settings: Settings, broker: str, local_api: LocalApi) -> AsyncIterator[Context]:
    async with open_context(settings, broker, local_api=local_api) as context:
        await create_topics(settings, broker)
        yield context


async def drain(ctx: Context, broker: str) -> None:
    """Run every worker in burst mode until the input topics are drained."""
    async with asyncio.timeout(180):
        await run_workers(ctx, broker, list(REGISTRY.values()), stop=asyncio.Event(), burst=True)


def document(name: str, tenant: str, content_type: str) -> InlineDocument:
    data = (SAMPLES / name).read_bytes()
    return InlineDocument(
        id=name,
        tenant=tenant,
        source="uploads",
        filename=name,
        content_type=content_type,
        data_base64=base64.b64encode(data).decode(),
    )


async def items_of(ctx: Context, tenant: str) -> list[Item]:
    async with ctx.database.sessions() as session:
        rows = await session.execute(select(Item).where(Item.tenant == tenant).order_by(Item.id))
        return list(rows.scalars())


async def test_posts_and_documents_flow_end_to_end(ctx: Context, broker: str) -> None:
    """Every input becomes one item with a verdict; what is flagged is published and valid."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    topics = ctx.settings.topics
    posts = [
        TextPost(
            id="benign", tenant=tenant, source="forum", text="The meeting is moved to Thursday."
        ),
        TextPost(id="insult", tenant=tenant, source="forum", text="You are a fucking idiot."),
        TextPost(id="pii", tenant=tenant, source="forum", text="Mail me at jane.doe@example.com"),
        ConversationPost(
            id="conv",
            tenant=tenant,
            source="chat",
            kind="conversation",
            messages=[
                ChatTurn(role="user", content="Can you help me?"),
                ChatTurn(role="assistant", content="Sure, what do you need?"),
                ChatTurn(role="user", content="Shut up, you stupid bitch."),
            ],
        ),
    ]
    documents = [
        document("invoice-text-layer.pdf", tenant, "application/pdf"),
        document("offensive-note.png", tenant, "image/png"),
    ]
    records = [record_for(topics.posts, p) for p in posts]
    records += [record_for(topics.documents, d) for d in documents]
    await send(ctx.publisher, records)

    await drain(ctx, broker)

    items = {item.external_id: item for item in await items_of(ctx, tenant)}
    assert sorted(items) == sorted([p.id for p in posts] + [d.id for d in documents])
    assert {i.status for i in items.values()} == {"processed"}
    async with ctx.database.sessions() as session:
        rows = await session.execute(
            select(Flag.item_id, Flag.categories).where(
                Flag.item_id.in_([i.id for i in items.values()])
            )
        )
        flags: dict[int, list[str]] = dict(iter(rows.tuples()))
        verdicts = await session.scalar(
            select(func.count()).select_from(Verdict).where(Verdict.item_id == items["benign"].id)
        )
        pages = await session.scalar(
            select(func.count())
            .select_from(DocumentPage)
            .where(DocumentPage.item_id == items["invoice-text-layer.pdf"].id)
        )
    flagged_ids = {external for external, item in items.items() if item.id in flags}
    assert flagged_ids == {"insult", "pii", "conv", "offensive-note.png"}
    assert "pii" in flags[items["pii"].id]
    assert verdicts == 1
    assert pages == 2  # the invoice sample has two pages
    assert "INVOICE" in (items["invoice-text-layer.pdf"].content or "")

    # At least once: a record may be published again, always with its event_id.
    events = {
        e.event_id: e
        for e in (
            FLAGGED_ADAPTER.validate_json(value)
            for _, value, _ in await read_topic(broker, topics.flagged)
        )
    }
    assert sorted(e.external_id for e in events.values()) == sorted(flagged_ids)
    assert {e.item_id for e in events.values()} == set(flags)
    for _, value, headers in await read_topic(broker, topics.flagged):
        assert headers["event_id"].decode() == json.loads(value)["event_id"]


async def test_a_redelivered_message_yields_one_item(ctx: Context, broker: str) -> None:
    """The same producer id twice (even with other text) → one item, one flag, one event."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    topics = ctx.settings.topics
    first = TextPost(id="dup", tenant=tenant, source="forum", text="You are a fucking idiot.")
    second = TextPost(id="dup", tenant=tenant, source="forum", text="You are a fucking idiot!")
    await send(ctx.publisher, [record_for(topics.posts, first)])
    await drain(ctx, broker)
    await send(ctx.publisher, [record_for(topics.posts, second), record_for(topics.posts, first)])
    await drain(ctx, broker)

    items = await items_of(ctx, tenant)
    assert len(items) == 1
    async with ctx.database.sessions() as session:
        outbox = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.key == f"{tenant}/forum/dup")
        )
    assert outbox == 1
    events = await read_topic(broker, topics.flagged)
    assert len({headers["event_id"] for _, _, headers in events}) == 1  # repeats share the id


async def test_bad_input_is_dead_lettered_and_recorded(ctx: Context, broker: str) -> None:
    """Undecodable and invalid records each give a DLQ record and a failed item; good ones pass."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    topics = ctx.settings.topics
    good = TextPost(id="good", tenant=tenant, source="forum", text="Lovely weather today.")
    bad_document = InlineDocument(
        id="not-base64",
        tenant=tenant,
        source="uploads",
        content_type="application/pdf",
        data_base64="@@@not base64@@@",
    )
    records = [
        (topics.posts, None, b"\xff\xfe not utf-8", []),
        (
            topics.posts,
            None,
            b'{"kind": "text", "id": "x", "tenant": "' + tenant.encode() + b'"}',
            [],
        ),
        record_for(topics.posts, good),
        record_for(topics.documents, bad_document),
    ]
    await send(ctx.publisher, records)
    await drain(ctx, broker)

    dead = [
        DEAD_LETTER_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.dlq)
    ]
    reasons = sorted(d.reason for d in dead)
    assert len(dead) == 3
    assert any("UTF-8" in r for r in reasons)
    assert any("text: missing" in r for r in reasons)
    assert any("base64" in r for r in reasons)
    assert all(d.payload_base64 is not None for d in dead)
    items = {i.external_id: i for i in await items_of(ctx, tenant)}
    assert items["good"].status == "processed"
    assert items["x"].status == "failed"
    assert items["not-base64"].status == "failed"
    assert items["not-base64"].error == "data_base64 is not valid base64"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("workers", ["all", "moderation,relay"])
async def test_run_burst_drains_and_exits_zero(
    settings: Settings, ctx: Context, broker: str, workers: str
) -> None:
    """`modocr run --burst` as a process: consumes what is there, then exits 0; ``--worker``
    takes all of them or a list."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    topics = ctx.settings.topics
    posts = [
        TextPost(id=f"p{i}", tenant=tenant, source="forum", text=f"Post number {i}")
        for i in range(20)
    ]
    await send(ctx.publisher, [record_for(topics.posts, p) for p in posts])
    env = worker_env(settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--burst",
        "--worker",
        workers,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    async with asyncio.timeout(180):
        _, stderr = await process.communicate()
    report = stderr.decode()
    assert process.returncode == 0, report[-2000:]
    assert len(await items_of(ctx, tenant)) == 20
    ran = {line.split(":")[0] for line in report.splitlines() if ":" in line}
    expected = {"moderation", "relay"} | ({"ocr"} if workers == "all" else set())
    assert expected <= ran, report[-2000:]
    if workers != "all":
        assert "ocr" not in ran


async def test_flagged_events_leave_with_the_handler_on_postgresql_only(
    ctx: Context, broker: str
) -> None:
    """Without a relay loop running: on PostgreSQL the moderation handler publishes its flagged
    events itself, right after storing them; on SQLite (one relay only) they wait in the
    outbox for the relay."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    topics = ctx.settings.topics
    posts = [
        TextPost(id="insult", tenant=tenant, source="forum", text="You are a fucking idiot."),
        TextPost(id="benign", tenant=tenant, source="forum", text="See you on Thursday."),
    ]
    await send(ctx.publisher, [record_for(topics.posts, p) for p in posts])
    async with asyncio.timeout(120):
        await run_workers(ctx, broker, [REGISTRY["moderation"]], stop=asyncio.Event(), burst=True)

    async with ctx.database.sessions() as session:
        unpublished = await session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.topic == topics.flagged, Outbox.published_at.is_(None))
        )
    published = [
        FLAGGED_ADAPTER.validate_json(value).external_id
        for _, value, _ in await read_topic(broker, topics.flagged)
    ]
    if ctx.database.dialect == "postgresql":
        assert (published, unpublished) == (["insult"], 0)
    else:
        assert (published, unpublished) == ([], 1)
