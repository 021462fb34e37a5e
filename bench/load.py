"""The latency scenario's load generator and observer, in a process of its own.

Producing posts at a steady rate and timing the flagged events that come back is the
measuring instrument, not the system under test: run in the workers' event loop, it would
take CPU from them and, worse, time events late whenever the workers keep the loop busy. So
it runs in a child process (``multiprocessing`` spawn) and reports wall-clock times, which
the parent compares with the database's timestamps for the per-stage breakdown.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.harness import make_posts
from pipeline.kafka.client import Publisher, open_consumer, open_producer
from pipeline.submit import record_for
from schemas.flagged import FLAGGED_ADAPTER

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from schemas.posts import TextPost


WARM_UP_PREFIX = "warm-up-"


@dataclass(frozen=True)
class LoadPlan:
    """What to send, where, how fast; and where the flagged events come back."""

    bootstrap: str
    posts_topic: str
    flagged_topic: str
    rate: float
    duration_s: float
    offensive: float = 0.2
    tenant: str = "bench"
    seed: int = 11
    """Not the seed of other posts of the run: their texts would be deduplicated."""
    warm_up_posts: int = 32
    """Offensive posts sent first, not measured: the load starts once all their flagged events
    are back (the consumer groups have joined, Tansu holding each join about half the
    session timeout, and every connection of the pipeline is open)."""
    warm_up_timeout_s: float = 120.0
    drain_s: float = 3.0
    chunk_s: float = 0.01
    """Posts due within this long leave together (a produce request each): Tansu spends
    about as much CPU per produce request as per record (measured: 900 posts/s in 10 ms
    chunks cost it 34-42% of a core, in 50 ms chunks 14-20%)."""
    compression_type: str | None = "lz4"


@dataclass
class LoadResult:
    """Wall-clock (``time.time()``) send and receive times by post id (``received`` also has
    the warm-up posts, which ``sent`` has not: only posts in both are measured)."""

    sent: dict[str, float]
    received: dict[str, float]


def run_load(plan: LoadPlan, results: Connection) -> None:
    """Child process entry point: run the plan, send the ``LoadResult`` back."""
    results.send(asyncio.run(_run(plan)))
    results.close()


@dataclass
class _WarmUp:
    """The warm-up posts not yet seen flagged; ``done`` once there are none."""

    pending: set[str]
    done: asyncio.Event


async def _run(plan: LoadPlan) -> LoadResult:
    result = LoadResult({}, {})
    stop = asyncio.Event()
    posts = make_posts(
        plan.warm_up_posts, tenant="warm-up", offensive=1.0, seed=3, prefix=WARM_UP_PREFIX
    )
    warm_up = _WarmUp({p.id for p in posts}, asyncio.Event())
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_watch(plan, result, warm_up, stop))
        tasks.create_task(_load(plan, result, (posts, warm_up), stop))
    return result


async def _watch(plan: LoadPlan, result: LoadResult, warm_up: _WarmUp, stop: asyncio.Event) -> None:
    async with open_consumer(
        plan.bootstrap,
        f"bench.watch.{uuid.uuid4().hex[:8]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=5,
    ) as consumer:
        consumer.subscribe([plan.flagged_topic])
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=20)
            now = time.time()
            for records in batches.values():
                for record in records:
                    event = FLAGGED_ADAPTER.validate_json(record.value)
                    result.received.setdefault(event.external_id, now)
                    warm_up.pending.discard(event.external_id)
            if not warm_up.pending:
                warm_up.done.set()


async def _load(
    plan: LoadPlan,
    result: LoadResult,
    warm_up: tuple[list[TextPost], _WarmUp],
    stop: asyncio.Event,
) -> None:
    """Send the posts in chunks every ``plan.chunk_s``, each without waiting for the previous
    one's acknowledgement, so that the generator keeps its pace.

    A post's send time is when it was due (``i / rate`` after the start), not when its chunk
    left: the wait for the chunk counts in the measured latency, as a producer's linger would.
    """
    posts = make_posts(
        int(plan.rate * plan.duration_s),
        tenant=plan.tenant,
        offensive=plan.offensive,
        seed=plan.seed,
        prefix="load-",
    )
    step = max(1, round(plan.rate * plan.chunk_s))
    chunks = [
        (
            [p.id for p in posts[i : i + step]],
            [record_for(plan.posts_topic, p) for p in posts[i : i + step]],
        )
        for i in range(0, len(posts), step)
    ]
    del posts
    gc.collect()
    gc.freeze()  # long-lived setup objects: out of the collector's way
    async with open_producer(
        plan.bootstrap, compression_type=plan.compression_type, linger_ms=0
    ) as producer:
        publisher = Publisher(producer)
        # Measure once all the warm-up posts came back flagged (the groups read from the
        # earliest offset, so posts sent before they formed are not missed).
        warm_up_posts, seen = warm_up
        await publisher.publish_many([record_for(plan.posts_topic, p) for p in warm_up_posts])
        async with asyncio.timeout(plan.warm_up_timeout_s):
            await seen.done.wait()
        started, wall_started = time.monotonic(), time.time()
        pending: set[asyncio.Task[Any]] = set()
        for number, (ids, records) in enumerate(chunks):
            first = number * step  # the index of the chunk's first post
            for offset, post_id in enumerate(ids):
                result.sent[post_id] = wall_started + (first + offset) / plan.rate
            # The chunk leaves when its last post is due.
            due = started + (first + len(ids) - 1) / plan.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(publisher.publish_many(records))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        await asyncio.sleep(plan.drain_s)
    stop.set()
