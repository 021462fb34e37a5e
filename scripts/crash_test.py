"""Crash test: workers as processes, SIGKILLed at random moments, nothing lost or duplicated.

    python scripts/crash_test.py [--posts 5000] [--documents 200] [--kills 5] [--database-url URL]

Starts an embedded broker, produces the inputs, runs the moderation, OCR and relay workers as
separate ``modocr run`` processes, kills one of them with SIGKILL at random moments (seeded)
and restarts it. At the end it checks that every input has exactly one item and one verdict,
that every flag has its event on the flagged topic (repeats only with the same event_id), and
that the groups' committed offsets are at the end. Prints a JSON report; exit 1 on a failure.
Without ``--database-url`` it uses a fresh PostgreSQL database on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pipeline.db.engine import open_database, upgrade_database
from pipeline.db.models import WHOLE_ITEM, Flag, Item, Outbox, Verdict
from pipeline.kafka.broker import open_embedded_broker
from pipeline.kafka.client import Publisher, committed_lag, open_producer, read_topic
from pipeline.runtime import create_topics
from pipeline.settings import KafkaSettings, Settings, TopicSettings
from pipeline.submit import record_for, send
from schemas.documents import InlineDocument
from schemas.flagged import FLAGGED_ADAPTER
from schemas.posts import TextPost

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WORKERS = ("moderation", "ocr", "relay")
OFFENSIVE = (
    "You are a fucking idiot.",
    "Shut up, you stupid bitch.",
    "go to hell you piece of shit",
)
BENIGN = ("The meeting is moved to Thursday.", "Lovely weather for a walk.", "Thanks for the help!")


def inputs(tenant: str, posts: int, documents: int, topics: TopicSettings) -> list:  # type: ignore[type-arg]
    rng = random.Random(7)
    records = []
    for i in range(posts):
        pool = OFFENSIVE if rng.random() < 0.2 else BENIGN
        text_ = f"{rng.choice(pool)} #{i}"
        records.append(
            record_for(
                topics.posts, TextPost(id=f"p{i}", tenant=tenant, source="crash", text=text_)
            )
        )
    pdfs = [
        ROOT / "samples/documents/invoice-text-layer.pdf",
        ROOT / "samples/documents/minutes-text-layer.pdf",
    ]
    blobs = [base64.b64encode(p.read_bytes()).decode() for p in pdfs]
    for i in range(documents):
        doc = InlineDocument(
            id=f"d{i}",
            tenant=tenant,
            source="crash",
            content_type="application/pdf",
            data_base64=blobs[i % len(blobs)],
        )
        records.append(record_for(topics.documents, doc))
    return records


class Fleet:
    """The worker processes, restartable."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts = Counter[str]()

    def start(self, name: str) -> None:
        self.starts[name] += 1
        log = (self.log_dir / f"{name}-{self.starts[name]}.log").open("wb")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pipeline", "run", "--worker", name],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


async def fresh_database() -> str:
    name = f"modocr_crash_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def progress(database_url: str, tenant: str) -> tuple[int, int]:
    """(items processed or failed, outbox rows unpublished)."""
    async with open_database(database_url) as db, db.sessions() as session:
        done = await session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.tenant == tenant, Item.status != "pending")
        )
        pending = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))
        )
    return int(done or 0), int(pending or 0)


async def verify(
    database_url: str, bootstrap: str, tenant: str, total: int, topics: TopicSettings
) -> dict:  # type: ignore[type-arg]
    async with open_database(database_url) as db, db.sessions() as session:
        items = await session.scalar(
            select(func.count()).select_from(Item).where(Item.tenant == tenant)
        )
        failed = await session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.tenant == tenant, Item.status != "processed")
        )
        per_item = (
            await session.execute(
                select(Verdict.item_id, func.count())
                .where(Verdict.page_index == WHOLE_ITEM)
                .group_by(Verdict.item_id)
            )
        ).all()
        flags = set((await session.execute(select(Flag.item_id))).scalars())
    events = [
        FLAGGED_ADAPTER.validate_json(v) for _, v, _ in await read_topic(bootstrap, topics.flagged)
    ]
    ids_per_item: dict[int, set[str]] = {}
    for event in events:
        ids_per_item.setdefault(event.item_id, set()).add(event.event_id)
    lag = {
        worker: await committed_lag(bootstrap, f"modocr.{worker}", topic)
        for worker, topic in (("moderation", topics.posts), ("ocr", topics.documents))
    }
    checks = {
        "one_item_per_input": items == total,
        "none_failed": failed == 0,
        "one_verdict_per_item": len(per_item) == total and all(c == 1 for _, c in per_item),
        "every_flag_published": set(ids_per_item) == flags,
        "repeats_share_event_id": all(len(ids) == 1 for ids in ids_per_item.values()),
        "committed_at_end": all(c == h for parts in lag.values() for c, h in parts.values()),
    }
    return {
        "checks": checks,
        "items": items,
        "flags": len(flags),
        "flagged_events": len(events),
        "duplicate_events": len(events) - len(ids_per_item),
        "committed": {w: {str(p): v for p, v in parts.items()} for w, parts in lag.items()},
    }


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    tenant = f"crash-{uuid.uuid4().hex[:8]}"
    owns_db = args.database_url is None
    database_url = args.database_url or await fresh_database()
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        await upgrade_database(database_url)
        async with open_embedded_broker() as bootstrap:
            topics = TopicSettings()
            settings = Settings.model_validate(
                {"database_url": database_url, "kafka": KafkaSettings(bootstrap_servers=bootstrap)}
            )
            await create_topics(settings, bootstrap)
            records = inputs(tenant, args.posts, args.documents, topics)
            async with open_producer(bootstrap) as producer:
                await send(Publisher(producer), records)
            env = {
                **os.environ,
                "MODOCR_DATABASE_URL": database_url,
                "MODOCR_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                "MODOCR_KAFKA__SESSION_TIMEOUT_MS": "6000",
                "MODOCR_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
                "MODOCR_MISTRAL__BASE_URL": "local",
                "MODOCR_WORKER__MODERATION_BATCH_MAX": "32",
            }
            fleet = Fleet(env, log_dir)
            for name in WORKERS:
                fleet.start(name)
            victims = [WORKERS[i % len(WORKERS)] for i in range(args.kills)]
            rng.shuffle(victims)
            kills: list[dict[str, object]] = []
            deadline = time.monotonic() + args.timeout_s
            while time.monotonic() < deadline:
                await asyncio.sleep(rng.uniform(1.5, 4.0))
                done, pending = await progress(database_url, tenant)
                if len(kills) < args.kills:
                    victim = victims[len(kills)]
                    fleet.kill(victim)
                    kills.append(
                        {
                            "worker": victim,
                            "after_s": round(time.monotonic() - started, 1),
                            "done": done,
                        }
                    )
                    fleet.start(victim)
                    continue
                if done >= len(records) and pending == 0 and len(kills) >= args.kills:
                    break
            codes = fleet.stop_all()
            report = await verify(database_url, bootstrap, tenant, len(records), topics)
            report.update(
                inputs=len(records),
                kills=kills,
                exit_codes=codes,
                elapsed_s=round(time.monotonic() - started, 1),
            )
            report["checks"]["enough_kills"] = len(kills) >= args.kills
            report["passed"] = all(report["checks"].values())
    finally:
        if owns_db:
            await drop_database(database_url)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout-s", type=float, default=480.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--log-dir", default="test-artifacts/crash")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
