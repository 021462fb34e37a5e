"""What every scenario runs on: the embedded broker, a fresh PostgreSQL database, the local
Mistral-compatible API as a separate ``modocr emulator`` process on loopback (so its CPU is its
own and visible), and a worker ``Context`` whose HTTP transport logs every response.

The workers themselves run in the benchmark's process, exactly as ``modocr run`` runs them
(``pipeline.runtime.run_workers``): same runner, same handlers, same client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pipeline.db.engine import open_database, upgrade_database
from pipeline.db.models import Item
from pipeline.kafka.broker import free_port, open_embedded_broker
from pipeline.kafka.client import Publisher, open_producer
from pipeline.mistral.client import MistralClient
from pipeline.policy import Policy
from pipeline.retention import Retention
from pipeline.settings import (
    KafkaSettings,
    MistralSettings,
    QuotaSettings,
    Settings,
    TopicSettings,
    WorkerSettings,
    pool_size_for,
)
from pipeline.submit import record_for, send
from pipeline.worker import Context
from schemas.posts import TextPost

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from pipeline.db.engine import Database

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

OFFENSIVE = (
    "You are a fucking idiot.",
    "Shut up, you stupid bitch.",
    "go to hell you piece of shit",
)
BENIGN = (
    "The meeting is moved to Thursday, see you there.",
    "Lovely weather for a walk along the river today.",
    "Thanks for the help with the report yesterday!",
    "Does anyone know when the library opens on Sunday?",
)


@dataclass
class Exchange:
    """One HTTP response from the upstream, as the client saw it."""

    at: float
    path: str
    status: int
    inputs: int
    pages: int
    duration_s: float


@dataclass
class UpstreamLog:
    """Every response of one or more clients (monotonic times)."""

    exchanges: list[Exchange] = field(default_factory=list)

    def count(self, *, since: float = 0.0, status: int | None = None, path: str = "") -> int:
        return sum(
            1
            for e in self.exchanges
            if e.at >= since and (status is None or e.status == status) and path in e.path
        )

    def inputs(self, *, since: float = 0.0, path: str = "/v1/moderations") -> int:
        return sum(
            e.inputs for e in self.exchanges if e.at >= since and e.status == 200 and e.path == path
        )


class CountingTransport(httpx.AsyncBaseTransport):
    """Logs each response's time, path, status and size (inputs, pages) into an UpstreamLog."""

    def __init__(self, log: UpstreamLog, max_connections: int) -> None:
        self._inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64)
        )
        self._log = log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = await self._inner.handle_async_request(request)
        inputs = pages = 0
        if response.status_code == 200:
            # Counted in the bytes: parsing the body twice would cost the worker's CPU.
            body = await response.aread()
            inputs = body.count(b'"category_scores"')
            pages = body.count(b'"markdown"')
        self._log.exchanges.append(
            Exchange(
                started,
                request.url.path,
                response.status_code,
                inputs,
                pages,
                time.monotonic() - started,
            )
        )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new PostgreSQL database, migrated; dropped on exit."""
    name = f"modocr_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        await upgrade_database(url)
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def open_upstream(faults: dict[str, Any]) -> AsyncIterator[tuple[str, int]]:
    """``modocr emulator`` with these fault knobs on a free loopback port: (URL, pid)."""
    port = free_port()
    env = {**os.environ, "MODOCR_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline",
        "emulator",
        "--port",
        str(port),
        "--faults",
        json.dumps(faults),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    headers = {"Authorization": "Bearer modocr-local"}
                    if (await client.get("/v1/models", headers=headers)).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the local API did not start")
            # Load the moderation engine before the clock starts.
            await client.post(
                "/v1/moderations",
                json={"model": "mistral-moderation-2603", "input": ["warm up"]},
                headers={"Authorization": "Bearer modocr-local"},
            )
        yield url, process.pid
    finally:
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


def bench_settings(
    database_url: str,
    bootstrap: str,
    upstream: str,
    *,
    run: str,
    quota: QuotaSettings | None = None,
    worker: dict[str, Any] | None = None,
) -> Settings:
    """Settings of one run: its own topics, fast group joins, the upstream, a quota."""
    return Settings(
        database_url=database_url,
        log_level="WARNING",
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            compression_type="lz4",
            fetch_max_wait_ms=5,  # Tansu holds a fetch the whole wait, data or not
        ),
        topics=TopicSettings(
            posts=f"bench.{run}.posts",
            documents=f"bench.{run}.documents",
            flagged=f"bench.{run}.flagged",
            decisions=f"bench.{run}.decisions",
            dlq=f"bench.{run}.dlq",
        ),
        mistral=MistralSettings(
            base_url=upstream, quota=quota or QuotaSettings(), max_connections=64
        ),
        worker=WorkerSettings(**(worker or {})),
    )


@contextlib.asynccontextmanager
async def open_bench_context(
    settings: Settings, bootstrap: str, log: UpstreamLog
) -> AsyncIterator[Context]:
    """``pipeline.runtime.open_context`` with a logging transport on the Mistral client."""
    transport = CountingTransport(log, settings.mistral.max_connections)
    async with (
        open_database(settings.database_url, pool_size=pool_size_for(settings)) as database,
        MistralClient.open(settings.mistral, transport=transport) as mistral,
        open_producer(
            bootstrap, compression_type=settings.kafka.compression_type, linger_ms=0
        ) as producer,
    ):
        yield Context(
            settings=settings,
            database=database,
            mistral=mistral,
            publisher=Publisher(producer),
            retention=Retention.from_settings(settings),
            policy=Policy.from_settings(settings.policy),
        )


async def calibrate(bootstrap: str, rounds: int = 500) -> dict[str, float]:
    """How fast this machine is right now, in a unit other runs can be compared by: sequential
    acknowledged sends to the embedded broker (engines.md measured 3,215/s, p50 0.30 ms, on
    a machine of this kind on a quiet day)."""
    async with open_producer(bootstrap, linger_ms=0) as producer:
        publisher = Publisher(producer)
        await publisher.publish("bench.calibration", b"x" * 200)
        times = []
        started = time.perf_counter()
        for _ in range(rounds):
            sent = time.perf_counter()
            await publisher.publish("bench.calibration", b"x" * 200)
            times.append(1000 * (time.perf_counter() - sent))
        elapsed = time.perf_counter() - started
    return {
        "kafka_round_trips_per_s": round(rounds / elapsed),
        "kafka_round_trip_p50_ms": round(percentile(times, 0.5), 3),
    }


def make_posts(
    count: int,
    *,
    tenant: str,
    seed: int = 7,
    offensive: float = 0.05,
    repeat: float = 0.0,
    prefix: str = "p",
) -> list[TextPost]:
    """Posts with unique texts, except a ``repeat`` fraction that repeats an earlier text
    (with changed spacing, which normalisation absorbs)."""
    rng = random.Random(seed)
    posts: list[TextPost] = []
    texts: list[str] = []
    for i in range(count):
        if texts and rng.random() < repeat:
            body = "  " + rng.choice(texts).replace(" ", "  ") + " "
        else:
            pool = OFFENSIVE if rng.random() < offensive else BENIGN
            body = f"{rng.choice(pool)} #{i}-{rng.randrange(10**9)}"
            texts.append(body)
        posts.append(TextPost(id=f"{prefix}{i}", tenant=tenant, source="bench", text=body))
    return posts


async def produce(publisher: Publisher, topic: str, posts: Sequence[TextPost]) -> float:
    """Publish posts (pipelined); return the seconds it took."""
    started = time.monotonic()
    await send(publisher, [record_for(topic, p) for p in posts], chunk=2000)
    return time.monotonic() - started


async def processed(database: Database, tenant: str) -> tuple[int, float]:
    """(items processed of a tenant, seconds between the first and the last)."""
    async with database.sessions() as session:
        row = (
            await session.execute(
                select(
                    func.count(), func.min(Item.processed_at), func.max(Item.processed_at)
                ).where(Item.tenant == tenant, Item.status == "processed")
            )
        ).one()
    count, first, last = row
    span = (last - first).total_seconds() if first is not None and last is not None else 0.0
    return int(count), span


async def wait_processed(
    database: Database, tenant: str, count: int, *, timeout_s: float, poll_s: float = 0.5
) -> int:
    """Poll until ``count`` items of ``tenant`` are processed (or the timeout); return the count."""
    deadline = time.monotonic() + timeout_s
    done = 0
    while time.monotonic() < deadline:
        done, _ = await processed(database, tenant)
        if done >= count:
            break
        await asyncio.sleep(poll_s)
    return done


def rss_mb(pid: int | None = None) -> float:
    """Resident set size in MB of a process (this one by default), from /proc."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak RSS in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0-1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


ANALYZED = ("items", "verdicts", "outbox")
AUTOVACUUM_ANALYZE_THRESHOLD = 50
AUTOVACUUM_ANALYZE_SCALE_FACTOR = 0.1
"""PostgreSQL's defaults: a table is analyzed once 50 + 10% of its rows changed since."""


@contextlib.asynccontextmanager
async def analyzing(
    database_url: str, every_s: float = 1.0, naptime_s: float = 10.0
) -> AsyncIterator[None]:
    """Autovacuum's analyze rule, checked every second, each table at most every ``naptime_s``.

    Autovacuum's one-minute naptime is longer than a benchmark, so tables that grow from empty
    to 100,000s of rows in seconds would be planned with no statistics (PostgreSQL then picks
    the status index over the unique key). Production tables have them. A table is analyzed
    when 50 + 10% of its rows changed since its last analyze, as autovacuum would: often
    while it is small, rarely once it is large; and, as with ``autovacuum_naptime = 10s`` (a
    common setting for busy databases), not again within 10 s. Without that pause a growing
    table was analyzed up to once a second, which production's autovacuum would not do: in
    ``posts-max`` that was a third of PostgreSQL's CPU (``perf``: 10.5% of all samples, of
    30.6% in postgres), and an ``ANALYZE`` also re-plans every prepared statement on the table.
    """
    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    due = text(
        "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.relname = ANY(:tables) "
        "AND s.n_mod_since_analyze > :threshold + :scale * GREATEST(c.reltuples, 0)"
    )
    analyzed_at: dict[str, float] = {}

    async def loop() -> None:
        # One connection for the whole run: a new one each second forked and set up a
        # PostgreSQL backend each second beside the pipeline (seen with log_connections).
        async with engine.connect() as connection:
            while True:
                await asyncio.sleep(every_s)
                tables = (
                    await connection.execute(
                        due,
                        {
                            "tables": list(ANALYZED),
                            "threshold": AUTOVACUUM_ANALYZE_THRESHOLD,
                            "scale": AUTOVACUUM_ANALYZE_SCALE_FACTOR,
                        },
                    )
                ).scalars()
                now = time.monotonic()
                for table in tables:
                    if now - analyzed_at.get(table, -naptime_s) < naptime_s:
                        continue
                    analyzed_at[table] = now
                    await connection.execute(text(f"ANALYZE {table}"))

    try:
        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(loop())
            try:
                yield
            finally:
                task.cancel()
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def open_bench(faults: dict[str, Any]) -> AsyncIterator[tuple[str, str, str, int]]:
    """Broker, fresh database and upstream: (bootstrap, database URL, upstream URL, its pid)."""
    async with (
        open_embedded_broker() as bootstrap,
        fresh_database() as database_url,
        open_upstream(faults) as (upstream, pid),
        analyzing(database_url),
    ):
        yield bootstrap, database_url, upstream, pid
