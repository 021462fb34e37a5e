"""``modocr demo``: the whole pipeline embedded, on the bundled samples.

An embedded Tansu broker, a fresh SQLite database, the local Mistral-compatible API
in-process and every worker; progress while it runs, then the flagged items and totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from pipeline.db.engine import upgrade_database
from pipeline.db.models import Flag, Item
from pipeline.review.app import create_app
from pipeline.review.resources import ReviewConfig
from pipeline.review.store import add_reviewer
from pipeline.runtime import create_topics, open_context, open_kafka, run_workers
from pipeline.settings import KafkaSettings
from pipeline.submit import inline_document, jsonl_records, send
from workers import REGISTRY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console

    from pipeline.settings import Settings
    from pipeline.submit import Record
    from pipeline.worker import Context

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO_DIR = Path(".modocr")
PROGRESS_EVERY_S = 0.5


@dataclass
class KindTotals:
    """How the inputs of one kind ended."""

    submitted: int = 0
    processed: int = 0
    failed: int = 0
    flagged: int = 0


@dataclass
class DemoSummary:
    """What ``--json`` prints."""

    database_url: str
    posts: KindTotals = field(default_factory=KindTotals)
    documents: KindTotals = field(default_factory=KindTotals)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    events_published: int = 0
    dead_lettered: int = 0
    elapsed_s: float = 0.0
    review_url: str = ""
    review_token: str = ""
    """An admin token for the review UI of the demo database (printed once)."""


def demo_settings(settings: Settings, directory: Path) -> Settings:
    """The user's settings with the embedded parts: broker, fresh SQLite, local API."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "demo.db"
    for stale in directory.glob("demo.db*"):
        stale.unlink()
    return settings.model_copy(
        update={
            "database_url": SecretStr(f"sqlite+aiosqlite:///{database}"),
            "kafka": KafkaSettings(
                bootstrap_servers="embedded", session_timeout_ms=6000, heartbeat_interval_ms=1000
            ),
            "mistral": settings.mistral.model_copy(update={"base_url": "local"})
            if settings.mistral.api_key is None
            else settings.mistral,
        }
    )


def sample_records(settings: Settings, samples: Path) -> tuple[list[Record], int, int]:
    """The bundled posts and documents as records; also how many of each."""
    posts = list(jsonl_records(samples / "posts.jsonl", settings.topics))
    manifest = json.loads((samples / "documents" / "manifest.json").read_text(encoding="utf-8"))
    documents: list[Record] = []
    for entry in manifest["documents"]:
        message = inline_document(
            samples / "documents" / entry["filename"], tenant="demo", source="uploads"
        )
        documents.append(
            (settings.topics.documents, message.id.encode(), message.model_dump_json().encode(), [])
        )
    return posts + documents, len(posts), len(documents)


async def run_demo(
    settings: Settings,
    console: Console,
    *,
    show: Callable[[DemoSummary], None],
    stop: asyncio.Event,
    samples: Path = SAMPLES,
    directory: Path = DEMO_DIR,
    keep_running: bool = False,
) -> DemoSummary:
    """Run the pipeline on the samples; with ``keep_running``, go on until interrupted."""
    started = time.monotonic()
    settings = demo_settings(settings, directory)
    url = settings.database_url.get_secret_value()
    summary = DemoSummary(database_url=url)
    console.print(f"[bold]modocr demo[/]: database {url}, embedded broker, local Mistral API")
    await upgrade_database(url)
    async with open_kafka(settings) as bootstrap, open_context(settings, bootstrap) as ctx:
        await create_topics(settings, bootstrap)
        records, summary.posts.submitted, summary.documents.submitted = sample_records(
            settings, samples
        )
        await send(ctx.publisher, records)
        console.print(
            f"submitted {summary.posts.submitted} posts and {summary.documents.submitted} "
            f"documents to the broker at {bootstrap}"
        )
        async with asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(_show_progress(ctx, summary, console))
            report = await run_workers(
                ctx, bootstrap, list(REGISTRY.values()), stop=stop, burst=True
            )
            watcher.cancel()
        summary.events_published = report.loops.get("relay", 0)
        summary.dead_lettered = sum(s.dead_lettered for s in report.consumers.values())
        await _collect(ctx, summary)
        summary.review_token = await _demo_reviewer(ctx)
        summary.review_url = f"http://{settings.review.host}:{settings.review.port}"
        summary.elapsed_s = round(time.monotonic() - started, 1)
        if keep_running:
            show(summary)
            console.print(
                f"review UI on {summary.review_url} (sign in with the token above); still "
                f"consuming: MODOCR_KAFKA__BOOTSTRAP_SERVERS={bootstrap} modocr submit text "
                "'...'; Ctrl-C to stop"
            )
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(_serve_review(settings, stop))
                tasks.create_task(run_workers(ctx, bootstrap, list(REGISTRY.values()), stop=stop))
    return summary


async def _demo_reviewer(ctx: Context) -> str:
    """An admin reviewer for the demo database; its token is shown once."""
    async with ctx.database.sessions() as session, session.begin():
        _, token = await add_reviewer(session, "demo-admin", "admin")
    return token


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the demo's stop event ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_review(settings: Settings, stop: asyncio.Event) -> None:
    """The review UI and API on the demo database until ``stop``."""
    config = uvicorn.Config(
        create_app(ReviewConfig.from_settings(settings)),
        host=settings.review.host,
        port=settings.review.port,
        log_config=None,
    )
    server = _EmbeddedServer(config)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await serving


async def _counts(ctx: Context) -> dict[tuple[str, str], int]:
    async with ctx.database.sessions() as session:
        rows = await session.execute(
            select(Item.kind, Item.status, func.count()).group_by(Item.kind, Item.status)
        )
        return {(kind, status): count for kind, status, count in rows.all()}


async def _show_progress(ctx: Context, summary: DemoSummary, console: Console) -> None:
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        posts = progress.add_task("posts", total=summary.posts.submitted)
        documents = progress.add_task("documents", total=summary.documents.submitted)
        try:
            while True:
                counts = await _counts(ctx)
                progress.update(
                    posts,
                    completed=counts.get(("post", "processed"), 0)
                    + counts.get(("post", "failed"), 0),
                )
                progress.update(
                    documents,
                    completed=counts.get(("document", "processed"), 0)
                    + counts.get(("document", "failed"), 0),
                )
                await asyncio.sleep(PROGRESS_EVERY_S)
        except asyncio.CancelledError:
            counts = await _counts(ctx)
            progress.update(
                posts,
                completed=counts.get(("post", "processed"), 0) + counts.get(("post", "failed"), 0),
            )
            progress.update(
                documents,
                completed=counts.get(("document", "processed"), 0)
                + counts.get(("document", "failed"), 0),
            )
            raise


async def _collect(ctx: Context, summary: DemoSummary) -> None:
    counts = await _counts(ctx)
    for kind, totals in (("post", summary.posts), ("document", summary.documents)):
        totals.processed = counts.get((kind, "processed"), 0)
        totals.failed = counts.get((kind, "failed"), 0)
    async with ctx.database.sessions() as session:
        rows = await session.execute(
            select(Item, Flag)
            .join(Flag, Flag.item_id == Item.id)
            .order_by(Item.kind.desc(), Flag.max_score.desc())
        )
        for item, flag in rows.all():
            totals = summary.posts if item.kind == "post" else summary.documents
            totals.flagged += 1
            summary.flagged.append(
                {
                    "item_id": item.id,
                    "kind": item.kind,
                    "external_id": item.external_id,
                    "categories": flag.categories,
                    "max_score": round(flag.max_score, 3),
                    "excerpt": _excerpt(item.content, item.kind),
                }
            )


def _excerpt(content: str | None, kind: str, width: int = 60) -> str:
    """The start of a document's text, or a post's last line (a conversation's judged turn)."""
    if content is None:
        return ""
    last = content.strip().splitlines()[-1] if content.strip() else ""
    flat = " ".join((last if kind == "post" else content).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
