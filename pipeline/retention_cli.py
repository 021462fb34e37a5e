"""The ``modocr zdr`` and ``modocr retention`` commands: Typer sub-apps for ``pipeline/cli.py``.

``pipeline/cli.py`` registers them: ``app.add_typer(zdr_app, name="zdr")`` and
``app.add_typer(retention_app, name="retention")``. Exit codes as in cli.py: 0 done (PASS),
1 a canary found or a runtime failure, 2 bad configuration.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from dataclasses import asdict
from datetime import datetime  # noqa: TC003 - typer evaluates annotations at runtime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pipeline.errors import ConfigError, PipelineError
from pipeline.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from pipeline.worker import WorkerSpec

zdr_app = typer.Typer(help="Zero data retention: prove nothing is kept.", no_args_is_help=True)
retention_app = typer.Typer(help="Content retention (MODOCR_RETENTION_DAYS).", no_args_is_help=True)

err = Console(stderr=True)


def _run(factory: Callable[[Settings], Coroutine[Any, Any, Any]]) -> Any:  # noqa: ANN401
    """Load settings, run the coroutine; ConfigError → exit 2, PipelineError → exit 1."""
    try:
        settings = load_settings()
        return asyncio.run(factory(settings))
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    except PipelineError as exc:
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _worker_specs() -> list[WorkerSpec]:
    # The worker set, as `modocr run` has it. Looked up by name: like cli.py this module is the
    # composition root, and pipeline/ modules may not import workers/ statically (layering test).
    registry: dict[str, WorkerSpec] = importlib.import_module("workers").REGISTRY
    return list(registry.values())


@zdr_app.command("check")
def zdr_check(
    *,
    zdr: Annotated[
        bool,
        typer.Option(
            "--zdr/--no-zdr",
            help="Run with ZDR on (the proof) or off (shows the check finds kept content).",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Canary inputs through the embedded pipeline; search DB, logs, topics and temp files.

    Prints PASS, or where each canary was found (exit code 1). Uses a fresh SQLite database,
    the embedded broker and the in-process local Mistral API; other settings as configured.
    """
    from pipeline.zdr import check_embedded

    specs = _worker_specs()

    async def go(settings: Settings) -> Any:  # noqa: ANN401
        return await check_embedded(settings, specs, zdr=zdr)

    report = _run(go)
    if as_json:
        payload = {
            "passed": report.passed,
            "zdr": report.zdr,
            "canaries": report.canaries,
            "searched": report.searched,
            "findings": [asdict(f) for f in report.findings],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
    if not report.passed:
        raise typer.Exit(1)


@retention_app.command("purge")
def retention_purge(
    now: Annotated[
        datetime | None,
        typer.Option(help="Purge as if it were this instant (ISO-8601, UTC if naive)."),
    ] = None,
) -> None:
    """Remove the content of items older than MODOCR_RETENTION_DAYS; results stay."""
    from pipeline.db.base import utcnow
    from pipeline.db.engine import open_database
    from pipeline.purge import purge_content
    from pipeline.retention import Retention

    async def go(settings: Settings) -> Any:  # noqa: ANN401
        instant = utcnow() if now is None else now
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=utcnow().tzinfo)
        async with open_database(settings.database_url) as database:
            return await purge_content(database, Retention.from_settings(settings), now=instant)

    result = _run(go)
    typer.echo(
        f"purged the content of {result.items} item(s) and {result.pages} page(s) "
        f"received before {result.cutoff.isoformat()}"
    )
