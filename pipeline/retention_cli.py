"""The ``modocr zdr`` and ``modocr retention`` commands: Typer sub-apps for ``pipeline/cli.py``.

``pipeline/cli.py`` registers them: ``app.add_typer(zdr_app, name="zdr")`` and
``app.add_typer(retention_app, name="retention")``. Exit codes as in cli.py: 0 done (PASS),
1 a canary found or a runtime failure, 2 bad configuration.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime  # noqa: TC003 - typer evaluates annotations at runtime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.console import run_command

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.worker import WorkerSpec

zdr_app = typer.Typer(help="Zero data retention: prove nothing is kept.", no_args_is_help=True)
retention_app = typer.Typer(help="Content retention (MODOCR_RETENTION_DAYS).", no_args_is_help=True)

_run = run_command


def _worker_specs() -> list[WorkerSpec]:
    # The worker set, as `modocr run` has it: like cli.py, this module is a composition root.
    from workers import REGISTRY

    return list(REGISTRY.values())


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
