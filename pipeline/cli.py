"""``modocr``: the command line. Parse, load settings, configure logging, run, map errors.

Exit codes: 0 done, 1 a runtime failure, 2 bad configuration or usage, 130 interrupted.
Human output (tables, progress) goes to stderr; ``--json`` output goes to stdout.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path  # noqa: TC003 - typer evaluates annotations at runtime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pipeline import __version__
from pipeline.console import err, load_and_configure, run_command
from pipeline.errors import ConfigError, InvalidMessageError
from pipeline.lifecycle import stop_on_signals
from pipeline.retention_cli import retention_app, zdr_app
from pipeline.review.cli import flagged_app, reviewers_app, serve
from pipeline.settings import Settings, load_settings

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="modocr",
    help="Moderate user text and OCR uploaded documents with the Mistral API, via Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
submit_app = typer.Typer(
    help="Produce input messages (for users and scripts).", no_args_is_help=True
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
dlq_app = typer.Typer(help="The dead-letter topic.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(submit_app, name="submit")
app.add_typer(config_app, name="config")
app.add_typer(dlq_app, name="dlq")
app.add_typer(zdr_app, name="zdr")
app.add_typer(retention_app, name="retention")
app.add_typer(flagged_app, name="flagged")
app.add_typer(reviewers_app, name="reviewers")
app.command()(serve)

WORKER_NAMES = ("moderation", "ocr", "relay", "purge", "all")
_run = run_command
_settings = load_and_configure


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """modocr: moderation and OCR daemon."""
    if version:
        typer.echo(__version__)
        raise typer.Exit


@app.command()
def run(
    worker: Annotated[
        str,
        typer.Option(
            "--worker",
            "-w",
            help="moderation, ocr, relay, purge, a comma-separated list of them, or all.",
        ),
    ] = "all",
    burst: Annotated[
        bool, typer.Option("--burst", help="Exit once the input topics are drained.")
    ] = False,
) -> None:
    """Run workers until SIGTERM/SIGINT (or, with --burst, until the input is drained).

    Workers in one process share its database pool and producer, and the relay there is woken
    by the moderation and OCR workers' commits instead of waiting for its next poll.
    """
    names = [name.strip() for name in worker.split(",") if name.strip()]
    if not names or any(name not in WORKER_NAMES for name in names):
        err.print(
            f"[red]--worker must be one of {', '.join(WORKER_NAMES)}, "
            "or several of them separated by commas[/]"
        )
        raise typer.Exit(2)
    from pipeline.runtime import open_context, open_kafka, run_workers
    from workers import REGISTRY

    specs = (
        list(REGISTRY.values()) if "all" in names else [REGISTRY[n] for n in dict.fromkeys(names)]
    )

    async def go(settings: Settings) -> None:
        async with (
            stop_on_signals() as stop,
            open_kafka(settings) as bootstrap,
            open_context(settings, bootstrap) as ctx,
        ):
            report = await run_workers(ctx, bootstrap, specs, stop=stop, burst=burst)
        for name, stats in report.consumers.items():
            err.print(f"{name}: {asdict(stats)}")
        for name, count in report.loops.items():
            err.print(f"{name}: published {count}")

    _run(go)


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit when the samples are processed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    samples: Annotated[
        Path | None, typer.Option(help="Directory with posts.jsonl and documents/.")
    ] = None,
) -> None:
    """Run the whole pipeline embedded (broker, SQLite, local Mistral API) on bundled samples.

    Then, unless --once, serve the review UI on the demo database and keep consuming.
    """
    from pipeline.demo import SAMPLES, DemoSummary, run_demo

    def show(summary: DemoSummary) -> None:
        if as_json:
            typer.echo(json.dumps(asdict(summary), indent=2))
        else:
            _print_demo(summary, once=once)

    async def go(settings: Settings) -> DemoSummary:
        async with stop_on_signals() as stop:
            return await run_demo(
                settings,
                err,
                show=show,
                stop=stop,
                samples=samples or SAMPLES,
                keep_running=not once,
            )

    summary = _run(go)
    if once:
        show(summary)


def _print_demo(summary: Any, *, once: bool) -> None:  # noqa: ANN401 - a DemoSummary
    table = Table(title="Flagged items", show_lines=False, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=3, justify="right")
    table.add_column("kind", no_wrap=True, min_width=8)
    table.add_column("external id", overflow="fold", min_width=10)
    table.add_column("categories", overflow="fold", min_width=12)
    table.add_column("score", no_wrap=True, min_width=5)
    table.add_column("excerpt", overflow="fold", min_width=10)
    for row in summary.flagged:
        table.add_row(
            str(row["item_id"]),
            row["kind"],
            row["external_id"],
            ", ".join(row["categories"]),
            f"{row['max_score']:.2f}",
            row["excerpt"],
        )
    err.print(table)
    for label, totals in (("posts", summary.posts), ("documents", summary.documents)):
        err.print(
            f"{label}: {totals.submitted} submitted, {totals.processed} processed, "
            f"{totals.failed} failed, {totals.flagged} flagged"
        )
    err.print(
        f"{summary.events_published} events published to modocr.flagged, "
        f"{summary.dead_lettered} dead-lettered, {summary.elapsed_s}s"
    )
    err.print(f"review sign-in token (admin, shown once): {summary.review_token}", soft_wrap=True)
    if once:
        err.print(
            f"review: MODOCR_DATABASE_URL={summary.database_url} .venv/bin/modocr serve "
            f"→ {summary.review_url}"
        )


@app.command()
def broker(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 9092,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory only) until interrupted."""
    from pipeline.kafka.broker import open_embedded_broker

    async def go(_: Settings) -> None:
        async with stop_on_signals() as stop, open_embedded_broker(host, port) as bootstrap:
            err.print(f"broker listening: MODOCR_KAFKA__BOOTSTRAP_SERVERS={bootstrap}")
            await stop.wait()

    _run(go)


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8100,
    faults: Annotated[
        str | None, typer.Option(help='Fault knobs as JSON, e.g. {"latency_ms": 150}.')
    ] = None,
) -> None:
    """Serve the local Mistral-compatible API (/v1/ocr, /v1/moderations, ...)."""
    from pipeline.localapi.faults import Faults
    from pipeline.localapi.server import run_emulator

    settings = _settings()
    key = settings.mistral.api_key.get_secret_value() if settings.mistral.api_key else None
    try:
        knobs = Faults.from_json(faults) if faults else None
    except ValueError as exc:
        err.print(f"[red]--faults:[/] {exc}")
        raise typer.Exit(2) from None
    err.print(
        f"local Mistral API on http://{host}:{port} (MODOCR_MISTRAL__BASE_URL=http://{host}:{port})"
    )
    run_emulator(host=host, port=port, api_key=key, faults=knobs)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations to MODOCR_DATABASE_URL (creates the schema on a new database)."""
    from pipeline.db.engine import upgrade_database

    async def go(settings: Settings) -> None:
        await upgrade_database(settings.database_url, revision)
        err.print(f"database upgraded to {revision}")

    _run(go)


def _publish(records: list[Any], label: str) -> None:
    from pipeline.kafka.client import Publisher, open_producer
    from pipeline.runtime import create_topics
    from pipeline.submit import send

    async def go(settings: Settings) -> None:
        if settings.kafka.is_embedded:
            raise ConfigError(
                "submit needs a running broker: set MODOCR_KAFKA__BOOTSTRAP_SERVERS=host:port"
            )
        bootstrap = settings.kafka.bootstrap_servers
        await create_topics(settings, bootstrap)
        async with open_producer(
            bootstrap, max_request_size=settings.kafka.max_request_size
        ) as producer:
            publisher = Publisher(producer)
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task(f"submitting {label}", total=len(records))
                for start in range(0, len(records), 200):
                    chunk = records[start : start + 200]
                    await send(publisher, chunk)
                    progress.advance(task, len(chunk))
        err.print(f"submitted {len(records)} {label}")

    _run(go)


@submit_app.command("text")
def submit_text(
    text: Annotated[str, typer.Argument(help="The text to moderate.")],
    tenant: Annotated[str, typer.Option(help="Tenant.")] = "default",
    source: Annotated[str, typer.Option(help="Source.")] = "cli",
    post_id: Annotated[
        str | None, typer.Option("--id", help="Producer id (default: random).")
    ] = None,
) -> None:
    """Submit one text post to modocr.posts."""
    from pipeline.submit import record_for, text_post

    topics = load_settings().topics
    post = text_post(text, tenant=tenant, source=source, post_id=post_id)
    _publish([record_for(topics.posts, post)], "post")


@submit_app.command("file")
def submit_file(
    paths: Annotated[
        list[Path], typer.Argument(help="PDF or image files.", exists=True, dir_okay=False)
    ],
    tenant: Annotated[str, typer.Option(help="Tenant.")] = "default",
    source: Annotated[str, typer.Option(help="Source.")] = "uploads",
) -> None:
    """Submit documents (inline, base64) to modocr.documents; a progress bar for many files."""
    from pipeline.submit import inline_document, record_for

    topics = load_settings().topics
    records = [
        record_for(topics.documents, inline_document(p, tenant=tenant, source=source))
        for p in paths
    ]
    _publish(records, "documents")


@submit_app.command("jsonl")
def submit_jsonl(
    path: Annotated[
        Path, typer.Argument(help="One post or document message per line.", exists=True)
    ],
) -> None:
    """Submit a JSONL file of messages; each line is validated against its topic's schema."""
    from pipeline.submit import jsonl_records

    topics = load_settings().topics
    try:
        records = list(jsonl_records(path, topics))
    except InvalidMessageError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    _publish(records, "messages")


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print the effective configuration (secrets hidden) and the retention report."""
    from pipeline.retention import Retention

    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    effective = json.loads(settings.model_dump_json())
    effective["mistral"]["resolved_base_url"] = settings.mistral.resolved_base_url()
    report = Retention.from_settings(settings).report()
    if as_json:
        rows = [{"what": w, "where": p, "kept": k} for w, p, k in report]
        typer.echo(json.dumps({"settings": effective, "retention": rows}, indent=2))
        return
    sys.stdout.write(json.dumps(effective, indent=2) + "\n")
    table = Table(title=f"Retention (ZDR {'on' if settings.zdr else 'off'})")
    for column in ("what", "where", "kept"):
        table.add_column(column)
    for row in report:
        table.add_row(*row)
    Console().print(table)


@dlq_app.command("replay")
def dlq_replay(
    error_type: Annotated[
        str | None, typer.Option(help="Only this error type, e.g. MistralRejectedError.")
    ] = None,
    worker: Annotated[str | None, typer.Option(help="Only what this worker dead-lettered.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, do not publish.")] = False,
) -> None:
    """Re-submit dead-lettered messages whose item is still failed to their source topic."""
    from pipeline.db.engine import open_database
    from pipeline.kafka.client import Publisher, open_producer
    from pipeline.replay import ReplayFilter, replay_dead_letters

    async def go(settings: Settings) -> None:
        if settings.kafka.is_embedded:
            raise ConfigError("dlq replay needs the broker: set MODOCR_KAFKA__BOOTSTRAP_SERVERS")
        bootstrap = settings.kafka.bootstrap_servers
        rules = ReplayFilter(error_type=error_type, worker=worker, dry_run=dry_run)
        async with (
            open_database(settings.database_url) as database,
            open_producer(bootstrap, max_request_size=settings.kafka.max_request_size) as producer,
        ):
            report = await replay_dead_letters(
                settings.topics.dlq, bootstrap, database, Publisher(producer), rules
            )
        verb = "would replay" if dry_run else "replayed"
        err.print(
            f"{verb} {report.replayed}; skipped {report.skipped} (filter), "
            f"{report.already_done} already processed, {report.without_payload} without payload "
            f"(ZDR), {report.unreadable} unreadable"
        )

    _run(go)
