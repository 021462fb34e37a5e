"""The benchmark scenarios: each returns the JSON-able dict that ``python -m bench`` prints.

Every scenario gets a fresh broker, database and upstream (``bench.harness.open_bench``); the
optimised run uses the real workers (``pipeline.runtime.run_workers``), the naive baseline
(``--baseline naive``) runs afterwards in the same process on its own topic and tenant.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.harness import (
    ROOT,
    UpstreamLog,
    bench_settings,
    make_posts,
    open_bench,
    open_bench_context,
    peak_rss_mb,
    percentile,
    processed,
    produce,
    rss_mb,
    wait_processed,
)
from bench.naive import run_naive
from pipeline.kafka.client import open_consumer
from pipeline.quota import replica_share
from pipeline.runtime import create_topics, run_workers
from pipeline.settings import QuotaSettings
from pipeline.submit import record_for, send
from schemas.documents import InlineDocument
from schemas.flagged import FLAGGED_ADAPTER
from workers import moderation, ocr, relay

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pipeline.settings import Settings
    from pipeline.worker import Context, WorkerSpec


@dataclass(frozen=True)
class Options:
    """Command-line knobs common to the scenarios."""

    baseline: str | None = None
    duration_s: float | None = None
    messages: int | None = None


Scenario = "Callable[[Options], Awaitable[dict[str, Any]]]"


async def _run_for(
    ctx: Context,
    bootstrap: str,
    specs: list[WorkerSpec],
    *,
    duration_s: float | None = None,
    until: Callable[[], Awaitable[bool]] | None = None,
    burst: bool = False,
) -> float:
    """Run the workers for ``duration_s`` (or until ``until()``, polled, or until drained in
    burst mode); return seconds."""
    stop = asyncio.Event()
    started = time.monotonic()

    async def stopper() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            elapsed = time.monotonic() - started
            if (duration_s is not None and elapsed >= duration_s) or (
                until is not None and await until()
            ):
                stop.set()

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(stopper())
        await run_workers(ctx, bootstrap, specs, stop=stop, burst=burst)
        stop.set()
    return time.monotonic() - started


def _summary(
    name: str,
    log: UpstreamLog,
    *,
    messages: int,
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    durations = [e.duration_s * 1000 for e in log.exchanges if e.status == 200]  # noqa: PLR2004
    return {
        "scenario": name,
        "messages": messages,
        "seconds": round(seconds, 2),
        "messages_per_s": round(messages / seconds, 1) if seconds > 0 else 0.0,
        "api_requests": len(log.exchanges),
        "api_429": log.count(status=429),
        "api_p50_ms": round(percentile(durations, 0.5), 1),
        "api_p99_ms": round(percentile(durations, 0.99), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **(extra or {}),
    }


async def _naive(
    settings: Settings, bootstrap: str, posts: int, *, duration_s: float, repeat: float = 0.0
) -> dict[str, Any]:
    """The naive consumer on its own topic and tenant, with the same upstream."""
    log = UpstreamLog()
    naive_settings = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"posts": settings.topics.posts + ".naive"})}
    )
    async with open_bench_context(naive_settings, bootstrap, log) as ctx:
        await create_topics(naive_settings, bootstrap)
        await produce(
            ctx.publisher,
            naive_settings.topics.posts,
            make_posts(posts, tenant="naive", repeat=repeat, prefix="n"),
        )
        started = time.monotonic()
        done = await run_naive(
            ctx,
            bootstrap,
            naive_settings.topics.posts,
            group_id=f"bench.naive.{uuid.uuid4().hex[:8]}",
            limit=posts,
            duration_s=duration_s,
        )
        count, span = await processed(ctx.database, "naive")
    return _summary(
        "naive", log, messages=count, seconds=span or (time.monotonic() - started)
    ) | {"processed": done, "api_inputs": log.inputs()}


def _ratio(ours: dict[str, Any], naive: dict[str, Any] | None, key: str) -> float | None:
    if naive is None or not naive.get(key):
        return None
    return round(ours[key] / naive[key], 3)


# --- posts-max -------------------------------------------------------------------------------


async def posts_max(options: Options) -> dict[str, Any]:
    """No latency, no limits: how many posts/s the pipeline (moderation + relay) sustains."""
    count = options.messages or 150_000
    log = UpstreamLog()
    worker = {"moderation_batch_max": 256, "moderation_concurrency": 3, "relay_batch": 1000}
    async with open_bench({}) as (bootstrap, database_url, upstream, pid):
        settings = bench_settings(database_url, bootstrap, upstream, run="max", worker=worker)
        async with open_bench_context(settings, bootstrap, log) as ctx:
            await create_topics(settings, bootstrap)
            posts = make_posts(count, tenant="bench")
            produce_s = await produce(ctx.publisher, settings.topics.posts, posts)
            del posts

            wall = await _run_for(
                ctx, bootstrap, [moderation.SPEC, relay.SPEC], duration_s=600, burst=True
            )
            done, span = await processed(ctx.database, "bench")
            result = _summary(
                "posts-max",
                log,
                messages=done,
                seconds=span,
                extra={
                    "wall_s": round(wall, 1),
                    "produce_s": round(produce_s, 1),
                    "batch_max": worker["moderation_batch_max"],
                    "upstream": "modocr emulator process on loopback",
                    "upstream_rss_mb": round(rss_mb(pid), 1),
                },
            )
        if options.baseline == "naive":
            naive = await _naive(settings, bootstrap, 5000, duration_s=options.duration_s or 15)
            result["baseline"] = naive
            result["ratio_vs_naive"] = _ratio(result, naive, "messages_per_s")
    result["pass"] = result["messages_per_s"] >= 5000 and (  # noqa: PLR2004
        result.get("ratio_vs_naive") is None or result["ratio_vs_naive"] >= 20  # noqa: PLR2004
    )
    return result


SCENARIOS: dict[str, Callable[[Options], Awaitable[dict[str, Any]]]] = {
    "posts-max": posts_max,
}
