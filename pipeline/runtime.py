"""Opening the resources and running worker specs: what ``modocr run`` and the demo share.

Resources open in order (broker, database, Mistral client, producer) on one exit stack and
close in reverse. Each consumer spec gets its own group consumer and ``Runner``; loop specs
(the relay) run beside them. In burst mode the consumers stop once their input is drained,
then the relay empties the outbox and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline.db.engine import open_database
from pipeline.deadletter import DeadLetterSink
from pipeline.heap import startup_frozen
from pipeline.kafka.broker import open_embedded_broker
from pipeline.kafka.client import Publisher, ensure_topics, open_consumer, open_producer
from pipeline.kafka.codec import decode
from pipeline.kafka.runner import ConsumeStats, Runner
from pipeline.mistral.connect import open_mistral
from pipeline.policy import Policy
from pipeline.quota import replica_share
from pipeline.retention import Retention
from pipeline.settings import pool_size_for
from pipeline.worker import ConsumerSpec, Context, LoopSpec, WorkerSpec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from pipeline.localapi.app import LocalApi
    from pipeline.settings import Settings

logger = logging.getLogger(__name__)

TOPIC_PARTITIONS = 6


@dataclass
class RunReport:
    """What each worker did in one run."""

    consumers: dict[str, ConsumeStats] = field(default_factory=dict)
    loops: dict[str, int] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def open_kafka(settings: Settings) -> AsyncIterator[str]:
    """The bootstrap address: the configured brokers, or an embedded Tansu started for us."""
    if settings.kafka.is_embedded:
        async with open_embedded_broker() as bootstrap:
            yield bootstrap
    else:
        yield settings.kafka.bootstrap_servers


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings, bootstrap: str, *, local_api: LocalApi | None = None
) -> AsyncIterator[Context]:
    """Open the database, the Mistral client and the producer; close them in reverse."""
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(
            open_database(settings.database_url, pool_size=pool_size_for(settings))
        )
        mistral = await stack.enter_async_context(
            open_mistral(settings.mistral, local_api=local_api)
        )
        producer = await stack.enter_async_context(
            open_producer(
                bootstrap,
                client_id=settings.kafka.client_id,
                max_request_size=settings.kafka.max_request_size,
                compression_type=settings.kafka.compression_type,
            )
        )
        yield Context(
            settings=settings,
            database=database,
            mistral=mistral,
            publisher=Publisher(producer),
            retention=Retention.from_settings(settings),
            policy=Policy.from_settings(settings.policy),
        )


async def create_topics(settings: Settings, bootstrap: str) -> None:
    """Create modocr's topics where missing (real clusters may pre-create them instead)."""
    topics = settings.topics
    await ensure_topics(
        bootstrap,
        [topics.posts, topics.documents, topics.flagged, topics.decisions, topics.dlq],
        partitions=TOPIC_PARTITIONS,
    )


async def run_consumer(
    ctx: Context,
    bootstrap: str,
    spec: ConsumerSpec[Any],
    *,
    stop: asyncio.Event,
    burst: bool,
) -> ConsumeStats:
    """Consume one spec's topic until stopped (or drained, in burst mode)."""
    settings = ctx.settings
    share = replica_share(ctx.mistral.limiter, settings.mistral.quota)
    async with open_consumer(
        bootstrap,
        spec.group_id,
        client_id=f"{settings.kafka.client_id}-{spec.name}",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        max_poll_records=settings.kafka.max_poll_records,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
    ) as consumer:
        runner: Runner[Any] = Runner(
            consumer,
            [spec.topic(settings.topics)],
            functools.partial(decode, spec.adapter),
            functools.partial(spec.handle, ctx),
            DeadLetterSink(ctx, worker=spec.name, kind=spec.item_kind),
            replace(spec.options(settings), burst=burst),
            name=spec.name,
            on_assignment=share.observer(spec.name) if share is not None else None,
        )
        return await runner.run(stop)


async def run_workers(
    ctx: Context,
    bootstrap: str,
    specs: Sequence[WorkerSpec],
    *,
    stop: asyncio.Event,
    burst: bool = False,
) -> RunReport:
    """Run the specs side by side until ``stop`` (or, in burst mode, until all is drained)."""
    await create_topics(ctx.settings, bootstrap)
    report = RunReport()
    drained = asyncio.Event()
    consumers = [s for s in specs if isinstance(s, ConsumerSpec)]
    loops = [s for s in specs if isinstance(s, LoopSpec)]

    async def consume(spec: ConsumerSpec[Any]) -> None:
        report.consumers[spec.name] = await run_consumer(
            ctx, bootstrap, spec, stop=stop, burst=burst
        )

    async def loop(spec: LoopSpec) -> None:
        report.loops[spec.name] = await spec.run(ctx, stop, drained if burst else None)

    with startup_frozen():
        async with asyncio.TaskGroup() as tasks:
            for loop_spec in loops:
                tasks.create_task(loop(loop_spec))
            async with asyncio.TaskGroup() as consuming:
                for consumer_spec in consumers:
                    consuming.create_task(consume(consumer_spec))
            drained.set()
    logger.info("workers stopped: %s", report)
    return report
