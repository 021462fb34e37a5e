"""Dedupe, usage accounting, budgets and the replica share on the real broker and databases."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from pipeline.db.models import ApiUsage, Item, Verdict
from pipeline.kafka.client import open_consumer
from pipeline.kafka.records import Decoded, Delivery
from pipeline.kafka.runner import ConsumeOptions, Outcome, Runner
from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.runtime import create_topics, open_context
from pipeline.submit import record_for, send
from pipeline.usage import BudgetExhaustedError, Usage, paused_tenants, record_usage
from schemas.documents import InlineDocument
from schemas.posts import TextPost
from tests.kafka_fixtures import pipeline_settings
from tests.polling import eventually
from workers import moderation, ocr

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from pipeline.settings import Settings, TopicSettings
    from pipeline.submit import Record
    from pipeline.worker import Context

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "documents"
PRICED = {
    "mistral-moderation-2603": {"per_million_tokens": 1000.0},
    "mistral-ocr-4": {"per_thousand_pages": 4.0},
}
"""A made-up price so that a few posts cost something measurable."""


@pytest.fixture(scope="module")
def local_api() -> LocalApi:
    return LocalApi(api_key=LOCAL_API_KEY)


def _settings(db_url: str, broker: str, topics: TopicSettings, **usage: Any) -> Settings:
    return pipeline_settings(db_url, broker, topics, usage={"prices": PRICED, **usage})


@pytest.fixture
async def ctx(
    db_url: str, broker: str, topics: TopicSettings, local_api: LocalApi
) -> AsyncIterator[Context]:
    settings = _settings(db_url, broker, topics, daily_budget_usd={"poor": 0.0})
    async with open_context(settings, broker, local_api=local_api) as context:
        yield context


def _batch(posts: list[TextPost]) -> list[Decoded[moderation.Post]]:
    return [
        Decoded(Delivery("modocr.posts", 0, offset, None, b"{}", 0), post)
        for offset, post in enumerate(posts)
    ]


def _post(tenant: str, text: str) -> TextPost:
    return TextPost(id=uuid.uuid4().hex, tenant=tenant, source="t", text=text)


def _moderation_inputs(local_api: LocalApi) -> int:
    return sum(r.inputs or 0 for r in local_api.requests if r.path == "/v1/moderations")


async def _items(ctx: Context, tenant: str) -> dict[str, Item]:
    async with ctx.database.sessions() as session:
        rows = await session.scalars(select(Item).where(Item.tenant == tenant))
        return {item.external_id: item for item in rows}


async def test_dedupe_reuses_a_stored_verdict_and_records_it(
    ctx: Context, local_api: LocalApi
) -> None:
    """Equal texts (after normalisation) are sent once; the others point at the first item."""
    tenant = f"t-{uuid.uuid4().hex}"
    text = f"You are a stupid idiot {uuid.uuid4().hex}"
    first = _post(tenant, text)
    before = _moderation_inputs(local_api)
    assert await moderation.handle(ctx, _batch([first])) == [None]
    assert _moderation_inputs(local_api) == before + 1

    again = _post(tenant, f"  {text.replace(' ', '   ')} ")  # same after normalisation
    exact = _post(tenant, text)  # same bytes: found in the database too
    new = _post(tenant, f"a new text {uuid.uuid4().hex}")
    twin = _post(tenant, new.text)  # repeats a text of its own batch
    assert await moderation.handle(ctx, _batch([again, exact, new, twin])) == [None] * 4
    assert _moderation_inputs(local_api) == before + 2  # only `new` was sent

    items = await _items(ctx, tenant)
    source = items[first.id]
    assert source.reused_from_item_id is None
    assert items[again.id].reused_from_item_id == source.id
    assert items[exact.id].reused_from_item_id == source.id
    assert items[new.id].reused_from_item_id is None
    assert items[twin.id].reused_from_item_id == items[new.id].id
    async with ctx.database.sessions() as session:
        verdicts = {
            v.item_id: v
            for v in await session.scalars(
                select(Verdict).where(Verdict.item_id.in_([i.id for i in items.values()]))
            )
        }
    assert verdicts[items[again.id].id].category_scores == verdicts[source.id].category_scores
    assert verdicts[items[again.id].id].flagged == verdicts[source.id].flagged


async def test_usage_rows_are_written_with_their_cost(ctx: Context) -> None:
    """One upsert per (day, model, tenant): requests, tokens and the estimated cost add up."""
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    posts = [_post(a, f"hello there {uuid.uuid4().hex}") for _ in range(3)]
    posts.append(_post(b, f"good morning {uuid.uuid4().hex}"))
    await moderation.handle(ctx, _batch(posts))
    await moderation.handle(ctx, _batch([_post(a, f"and again {uuid.uuid4().hex}")]))
    async with ctx.database.sessions() as session:
        rows = {
            r.tenant: r
            for r in await session.scalars(select(ApiUsage).where(ApiUsage.tenant.in_([a, b])))
        }
    assert set(rows) == {a, b}
    assert rows[a].requests == 2  # the largest share of the first request, and the second
    assert rows[b].requests == 0
    assert rows[a].model == "mistral-moderation-2603"
    assert rows[a].day == datetime.now(UTC).date()
    for row in rows.values():
        assert row.tokens > 0
        assert row.estimated_cost == pytest.approx(row.tokens * 1000.0 / 1e6)


async def test_spent_budget_pauses_the_tenant_until_the_next_day(
    ctx: Context, local_api: LocalApi
) -> None:
    """A tenant at its budget is left for later (the batch is retried); others go through."""
    other = f"rich-{uuid.uuid4().hex}"
    paid = _post(other, f"fine words {uuid.uuid4().hex}")
    waiting = _post("poor", f"cheap words {uuid.uuid4().hex}")
    before = _moderation_inputs(local_api)
    with pytest.raises(BudgetExhaustedError) as raised:
        await moderation.handle(ctx, _batch([paid, waiting]))
    assert raised.value.tenants == ["poor"]
    assert 0 < raised.value.retry_after <= 60  # the runner's backoff cap
    assert _moderation_inputs(local_api) == before + 1
    assert paid.id in await _items(ctx, other)
    assert waiting.id not in await _items(ctx, "poor")


async def test_budget_resumes_in_the_next_window(
    db_url: str, broker: str, topics: TopicSettings, ctx: Context
) -> None:
    """Spend recorded today pauses a tenant today and not tomorrow (injected clock)."""
    tenant = f"b-{uuid.uuid4().hex}"
    settings = _settings(db_url, broker, topics, daily_budget_usd={tenant: 0.5})
    today = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    usage = Usage(tenant, "mistral-moderation-2603", requests=1, tokens=600)  # $0.60
    async with ctx.database.sessions.begin() as session:
        await record_usage(session, [usage], settings.usage.prices, day=today.date())
    async with ctx.database.sessions() as session:
        for now, expected in (
            (today - timedelta(days=1), set()),
            (today, {tenant}),
            (today + timedelta(hours=11, minutes=59), {tenant}),
            (today + timedelta(hours=12), set()),
        ):
            assert await paused_tenants(session, [tenant], settings.usage, now=now) == expected


@contextlib.asynccontextmanager
async def _posts_runner(
    broker: str,
    topics: TopicSettings,
    handle: Callable[[list[Decoded[bytes | None]]], Awaitable[list[Outcome]]],
    options: ConsumeOptions,
    *,
    on_assignment: Callable[[int, int], None] | None = None,
) -> AsyncIterator[Runner[bytes | None]]:
    """A runner over the posts topic, raw values, in a group of its own; nothing dead-letters."""

    async def dead_letter(*_: object) -> None:
        raise AssertionError

    async with open_consumer(
        broker, f"g-{uuid.uuid4().hex}", session_timeout_ms=6000, heartbeat_interval_ms=1000
    ) as consumer:
        yield Runner(
            consumer,
            [topics.posts],
            lambda raw: raw,
            handle,
            dead_letter,
            options,
            on_assignment=on_assignment,
        )


class _FirstHeld:
    """A handler that records batch sizes and keeps the first batch in flight until the next
    batch arrives."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.first_started = asyncio.Event()
        self._release = asyncio.Event()

    async def __call__(self, batch: list[Decoded[bytes | None]]) -> list[Outcome]:
        self.sizes.append(len(batch))
        if len(self.sizes) == 1:
            self.first_started.set()
            await self._release.wait()
        else:
            self._release.set()
        return [None for _ in batch]


def _linger_posts(topics: TopicSettings, count: int) -> list[Record]:
    return [record_for(topics.posts, _post("linger", "hello")) for _ in range(count)]


async def test_runner_reports_its_share_of_the_partitions(
    broker: str, topics: TopicSettings, ctx: Context
) -> None:
    """Alone in its group a consumer holds every partition: on_assignment(6, 6)."""
    await create_topics(ctx.settings, broker)
    await send(ctx.publisher, [record_for(topics.posts, _post("share", "hello"))])
    seen: list[tuple[int, int]] = []

    async def handle(batch: list[Decoded[bytes | None]]) -> list[Outcome]:
        return [None for _ in batch]

    async with _posts_runner(
        broker,
        topics,
        handle,
        ConsumeOptions(burst=True),
        on_assignment=lambda held, total: seen.append((held, total)),
    ) as runner:
        async with asyncio.timeout(60):
            await runner.run(asyncio.Event())
    assert (6, 6) in seen


async def test_partial_batch_lingers_while_another_is_in_flight(
    broker: str, topics: TopicSettings, ctx: Context
) -> None:
    """With a batch in flight, records that arrive in pieces wait (up to ``linger_s``) and
    leave as one full batch; with nothing in flight a batch leaves at once."""
    await create_topics(ctx.settings, broker)
    handle = _FirstHeld()
    options = ConsumeOptions(batch_max=8, concurrency=2, linger_s=60.0, burst=True)
    async with (
        _posts_runner(broker, topics, handle, options) as runner,
        asyncio.timeout(90),
        asyncio.TaskGroup() as tasks,
    ):
        running = tasks.create_task(runner.run(asyncio.Event()))
        await send(ctx.publisher, _linger_posts(topics, 1))
        await handle.first_started.wait()  # alone: it did not linger
        await send(ctx.publisher, _linger_posts(topics, 3))

        async def consumed_four() -> bool:
            return runner.stats.consumed == 4

        await eventually(consumed_four, timeout_s=30)
        await send(ctx.publisher, _linger_posts(topics, 5))
        stats = await running
    assert handle.sizes == [1, 8], "the 3 early records should have waited for the full batch"
    assert stats.handled == 9


async def test_partial_batch_leaves_when_its_linger_ends(
    broker: str, topics: TopicSettings, ctx: Context
) -> None:
    """The wait is bounded: a partial batch leaves after ``linger_s`` though another batch is
    still in flight and no more records come."""
    await create_topics(ctx.settings, broker)
    handle = _FirstHeld()
    options = ConsumeOptions(batch_max=8, concurrency=2, linger_s=0.3, burst=True)
    async with (
        _posts_runner(broker, topics, handle, options) as runner,
        asyncio.timeout(90),
        asyncio.TaskGroup() as tasks,
    ):
        running = tasks.create_task(runner.run(asyncio.Event()))
        await send(ctx.publisher, _linger_posts(topics, 1))
        await handle.first_started.wait()
        await send(ctx.publisher, _linger_posts(topics, 3))
        stats = await running
    assert handle.sizes == [1, 3]
    assert stats.handled == 4


async def test_identical_document_reuses_pages_and_ocr_usage_is_recorded(
    ctx: Context, local_api: LocalApi
) -> None:
    """The same bytes are OCR'd once; the copy reuses pages and verdicts; pages are costed."""
    tenant = f"d-{uuid.uuid4().hex}"
    data = (SAMPLES / "minutes-text-layer.pdf").read_bytes() + f"%{uuid.uuid4().hex}".encode()
    first, copy = (
        InlineDocument(
            id=uuid.uuid4().hex,
            tenant=tenant,
            source="t",
            content_type="application/pdf",
            data_base64=base64.b64encode(data).decode(),
        )
        for _ in range(2)
    )
    ocr_calls = sum(1 for r in local_api.requests if r.path == "/v1/ocr")
    for document in (first, copy):
        batch: list[Decoded[ocr.Document]] = [
            Decoded(Delivery("modocr.documents", 0, 0, None, b"{}", 0), document)
        ]
        assert await ocr.handle(ctx, batch) == [None]
    assert sum(1 for r in local_api.requests if r.path == "/v1/ocr") == ocr_calls + 1
    items = await _items(ctx, tenant)
    assert items[copy.id].reused_from_item_id == items[first.id].id
    assert items[copy.id].page_count == items[first.id].page_count == 1
    async with ctx.database.sessions() as session:
        usage = {
            r.model: r
            for r in await session.scalars(select(ApiUsage).where(ApiUsage.tenant == tenant))
        }
    ocr_rows = [r for m, r in usage.items() if m.startswith("mistral-ocr")]
    assert len(ocr_rows) == 1
    assert ocr_rows[0].pages == 1
    assert ocr_rows[0].requests == 1
    assert ocr_rows[0].estimated_cost == pytest.approx(4.0 / 1000)


@pytest.mark.parametrize("interval_s", [0.0, 3600.0])
async def test_offsets_are_committed_at_most_every_interval(
    broker: str, topics: TopicSettings, ctx: Context, interval_s: float
) -> None:
    """While consuming, a commit waits for ``commit_interval_s``; stopping commits what is
    done whatever the interval."""
    await create_topics(ctx.settings, broker)
    await send(ctx.publisher, _linger_posts(topics, 3))

    async def handle(batch: list[Decoded[bytes | None]]) -> list[Outcome]:
        return [None for _ in batch]

    options = ConsumeOptions(batch_max=8, commit_interval_s=interval_s)
    stop = asyncio.Event()
    async with (
        _posts_runner(broker, topics, handle, options) as runner,
        asyncio.timeout(90),
        asyncio.TaskGroup() as tasks,
    ):
        running = tasks.create_task(runner.run(stop))

        async def handled_three() -> bool:
            return runner.stats.handled == 3

        await eventually(handled_three, timeout_s=60)
        if interval_s == 0:

            async def committed() -> bool:
                return runner.stats.commits > 0

            await eventually(committed, timeout_s=30)
        else:
            assert runner.stats.commits == 0
        stop.set()
        stats = await running
    assert stats.commits >= 1
    if interval_s:
        assert stats.commits == 1, "only the final commit"
