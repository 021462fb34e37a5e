"""``modocr flagged ...``, ``modocr reviewers ...`` and ``modocr serve``: the review CLI.

Commands read MODOCR_DATABASE_URL directly. ``flagged decide`` acts as the reviewer whose token
is given (``--token`` or MODOCR_REVIEW_TOKEN), so the audit log names a person. Tables go to
stderr; ``--json`` output and exports go to stdout (or ``--output``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path  # noqa: TC003 - typer reads annotations at runtime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from pipeline.console import err, load_and_configure, run_command
from pipeline.errors import ConfigError
from pipeline.review import store
from pipeline.review.export import encode_rows
from pipeline.review.resources import ReviewConfig
from pipeline.review.schemas import FlagDetailOut, FlagSummary, ReviewerOut
from pipeline.settings import Settings  # noqa: TC001 - typer reads annotations at runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from pipeline.db.engine import Database

logger = logging.getLogger(__name__)
flagged_app = typer.Typer(help="Query and decide on flagged items.", no_args_is_help=True)
reviewers_app = typer.Typer(help="Manage reviewers and their tokens.", no_args_is_help=True)

ROLES = ("viewer", "reviewer", "admin")
VERBS = ("uphold", "dismiss", "escalate", "claim")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


def _run(factory: Callable[[Settings], Coroutine[Any, Any, Any]]) -> Any:  # noqa: ANN401
    """``pipeline.console.run_command``, plus: a bad filter or cursor is a usage error (2)."""
    usage: list[str] = []

    async def guarded(settings: Settings) -> Any:  # noqa: ANN401
        try:
            return await factory(settings)
        except store.InvalidQueryError as exc:
            usage.append(str(exc))
            return None

    result = run_command(guarded)
    if usage:
        err.print(f"[red]error:[/] {usage[0]}")
        raise typer.Exit(2)
    return result


async def _with_db(
    settings: Settings, action: Callable[[Database], Coroutine[Any, Any, Any]]
) -> Any:  # noqa: ANN401
    from pipeline.db.engine import open_database

    async with open_database(settings.database_url) as database:
        return await action(database)


def _filters(
    status: list[str] | None,
    category: list[str] | None,
    tenant: str | None,
    source: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    min_score: float | None,
    q: str | None,
) -> store.FlagFilters:
    from datetime import UTC

    def aware(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    return store.FlagFilters(
        status=tuple(status or ()),
        category=tuple(category or ()),
        tenant=tenant,
        source=source,
        kind=kind,
        since=aware(since),
        until=aware(until),
        min_score=min_score,
        q=q,
    )


StatusOpt = Annotated[list[str] | None, typer.Option("--status", help="Repeatable.")]
CategoryOpt = Annotated[list[str] | None, typer.Option("--category", help="Repeatable.")]
TenantOpt = Annotated[str | None, typer.Option(help="Tenant.")]
SourceOpt = Annotated[str | None, typer.Option(help="Source.")]
KindOpt = Annotated[str | None, typer.Option(help="post or document.")]
SinceOpt = Annotated[datetime | None, typer.Option(help="Flagged at or after (UTC if naive).")]
UntilOpt = Annotated[datetime | None, typer.Option(help="Flagged before (UTC if naive).")]
MinScoreOpt = Annotated[float | None, typer.Option("--min-score", min=0.0, max=1.0)]
QueryOpt = Annotated[str | None, typer.Option("--q", help="Search retained content.")]
SortOpt = Annotated[str, typer.Option(help="-created_at, created_at, -max_score, max_score.")]


@flagged_app.command("list")
def flagged_list(
    status: StatusOpt = None,
    category: CategoryOpt = None,
    tenant: TenantOpt = None,
    source: SourceOpt = None,
    kind: KindOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    min_score: MinScoreOpt = None,
    q: QueryOpt = None,
    sort: SortOpt = "-created_at",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="From a previous page.")] = None,
    as_json: JsonOpt = False,  # noqa: FBT002 - a typer flag
) -> None:
    """List flagged items (one page; the next cursor is printed)."""
    filters = _filters(status, category, tenant, source, kind, since, until, min_score, q)

    async def go(settings: Settings) -> store.Page:
        config = ReviewConfig.from_settings(settings)

        async def action(database: Database) -> store.Page:
            async with database.sessions() as session:
                return await store.list_flags(
                    session,
                    filters,
                    sort=sort,
                    cursor=cursor,
                    limit=limit,
                    retention=config.retention,
                )

        result: store.Page = await _with_db(settings, action)
        return result

    page: store.Page = _run(go)
    if as_json:
        items = [FlagSummary.of(r).model_dump(mode="json") for r in page.rows]
        typer.echo(json.dumps({"items": items, "next_cursor": page.next_cursor}))
        return
    table = Table(title="Flagged items")
    for column in ("id", "kind", "tenant/source", "external id", "categories", "score", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("assignee")
    for row in page.rows:
        table.add_row(
            str(row.flag_id),
            row.kind,
            f"{row.tenant}/{row.source}",
            row.external_id,
            ", ".join(row.categories),
            f"{row.max_score:.2f}",
            row.status,
            row.assignee or "",
        )
    err.print(table)
    if page.next_cursor:
        err.print(f"next page: --cursor {page.next_cursor}")


@flagged_app.command("show")
def flagged_show(
    flag_id: Annotated[int, typer.Argument(help="The flag's id.", min=1)],
    as_json: JsonOpt = False,  # noqa: FBT002 - a typer flag
) -> None:
    """Show a flagged item: scores, model, policy version, content or reference, decisions."""

    async def go(settings: Settings) -> FlagDetailOut:
        config = ReviewConfig.from_settings(settings)

        async def action(database: Database) -> FlagDetailOut:
            async with database.sessions() as session:
                detail = await store.get_flag_detail(session, flag_id, retention=config.retention)
                return FlagDetailOut.of(detail)

        result: FlagDetailOut = await _with_db(settings, action)
        return result

    detail: FlagDetailOut = _run(go)
    if as_json:
        typer.echo(detail.model_dump_json())
        return
    ref = detail.reference
    err.print(f"[bold]flag {detail.id}[/] ({detail.kind}) status={detail.status} v{detail.version}")
    err.print(f"reference: {ref.tenant}/{ref.source}/{ref.external_id} sha256={ref.content_sha256}")
    err.print(f"model: {detail.model}  policy: {detail.policy_version}")
    scores = Table(title="scores")
    scores.add_column("category")
    scores.add_column("score")
    for name, score in sorted(detail.category_scores.items(), key=lambda kv: -kv[1]):
        scores.add_row(name + (" *" if name in detail.categories else ""), f"{score:.3f}")
    err.print(scores)
    err.print(detail.content if detail.content is not None else "(content not retained)")
    for decision in detail.decisions:
        err.print(
            f"{decision.created_at:%Y-%m-%d %H:%M} {decision.reviewer} {decision.action} "
            f"{decision.status_before}→{decision.status_after} {decision.note or ''}"
        )


@flagged_app.command("decide")
def flagged_decide(
    flag_id: Annotated[int, typer.Argument(help="The flag's id.", min=1)],
    action: Annotated[str, typer.Argument(help="uphold, dismiss, escalate or claim.")],
    version: Annotated[int, typer.Option(help="The flag version you looked at.")],
    token: Annotated[str, typer.Option(envvar="MODOCR_REVIEW_TOKEN", help="Your reviewer token.")],
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
    as_json: JsonOpt = False,  # noqa: FBT002 - a typer flag
) -> None:
    """Decide on a flagged item as the token's reviewer (exit 1 on a stale version)."""
    if action not in VERBS:
        err.print(f"[red]action must be one of {', '.join(VERBS)}[/]")
        raise typer.Exit(2)

    async def go(settings: Settings) -> store.Outcome:
        config = ReviewConfig.from_settings(settings)

        async def act(database: Database) -> store.Outcome:
            async with database.sessions() as session:
                reviewer = await store.reviewer_by_token(session, token)
            if reviewer is None or reviewer.role == "viewer":
                raise ConfigError("the token is unknown, revoked, or of a viewer")
            return await store.decide(
                database.sessions,
                flag_id,
                action=action,
                version=version,
                reviewer=reviewer.name,
                note=note,
                topic=config.decisions_topic,
                retention=config.retention,
            )

        result: store.Outcome = await _with_db(settings, act)
        return result

    outcome: store.Outcome = _run(go)
    if as_json:
        body = {"status": outcome.status, "assignee": outcome.assignee, "version": outcome.version}
        typer.echo(json.dumps(body))
        return
    err.print(f"flag {flag_id}: {outcome.status}, version {outcome.version}")


@flagged_app.command("export")
def flagged_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
    status: StatusOpt = None,
    category: CategoryOpt = None,
    tenant: TenantOpt = None,
    source: SourceOpt = None,
    kind: KindOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    min_score: MinScoreOpt = None,
    q: QueryOpt = None,
    sort: SortOpt = "-created_at",
) -> None:
    """Export every matching flagged item as CSV or JSONL, streamed (no content)."""
    if fmt not in ("csv", "jsonl"):
        err.print("[red]--format must be csv or jsonl[/]")
        raise typer.Exit(2)
    filters = _filters(status, category, tenant, source, kind, since, until, min_score, q)

    async def go(settings: Settings) -> int:
        config = ReviewConfig.from_settings(settings)

        async def action(database: Database) -> int:
            rows = store.iter_flags(
                database.sessions, filters, sort=sort, retention=config.retention
            )
            count = 0
            sink = output.open("wb") if output else sys.stdout.buffer
            try:
                async for chunk in encode_rows(rows, fmt):  # type: ignore[arg-type]
                    sink.write(chunk)
                    count += 1
            finally:
                if output:
                    sink.close()
                else:
                    sink.flush()
            return count

        lines: int = await _with_db(settings, action)
        return lines

    lines: int = _run(go)
    err.print(f"exported {lines - (1 if fmt == 'csv' else 0)} flagged items")


@reviewers_app.command("add")
def reviewers_add(
    name: Annotated[str, typer.Argument(help="Unique name (shown in the audit log).")],
    role: Annotated[str, typer.Option(help="viewer, reviewer or admin.")] = "reviewer",
) -> None:
    """Create a reviewer and print their token once (only its hash is stored)."""
    if role not in ROLES:
        err.print(f"[red]--role must be one of {', '.join(ROLES)}[/]")
        raise typer.Exit(2)

    async def go(settings: Settings) -> str:
        async def action(database: Database) -> str:
            async with database.sessions() as session, session.begin():
                _, token = await store.add_reviewer(session, name, role)
            return token

        token: str = await _with_db(settings, action)
        return token

    token: str = _run(go)
    err.print(f"reviewer {name} ({role}) added; the token is shown once:")
    typer.echo(token)


@reviewers_app.command("list")
def reviewers_list(as_json: JsonOpt = False) -> None:  # noqa: FBT002 - a typer flag
    """List reviewers (names, roles, revocation), never tokens."""

    async def go(settings: Settings) -> list[ReviewerOut]:
        async def action(database: Database) -> list[ReviewerOut]:
            async with database.sessions() as session:
                return [ReviewerOut.of(r) for r in await store.list_reviewers(session)]

        result: list[ReviewerOut] = await _with_db(settings, action)
        return result

    reviewers: list[ReviewerOut] = _run(go)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in reviewers]))
        return
    table = Table(title="Reviewers")
    for column in ("name", "role", "created", "revoked"):
        table.add_column(column)
    for r in reviewers:
        revoked = f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else ""
        table.add_row(r.name, r.role, f"{r.created_at:%Y-%m-%d %H:%M}", revoked)
    err.print(table)


@reviewers_app.command("revoke")
def reviewers_revoke(name: Annotated[str, typer.Argument(help="The reviewer's name.")]) -> None:
    """Revoke a reviewer's token; their API calls and UI sessions stop at once."""

    async def go(settings: Settings) -> None:
        async def action(database: Database) -> None:
            async with database.sessions() as session, session.begin():
                await store.revoke_reviewer(session, name)

        await _with_db(settings, action)

    _run(go)
    err.print(f"reviewer {name} revoked")


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface (default MODOCR_REVIEW__HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MODOCR_REVIEW__PORT).")] = None,
) -> None:
    """Serve the review web UI and API (OpenAPI at /docs) until interrupted."""
    import uvicorn

    from pipeline.review.app import create_app

    def build(settings: Settings) -> tuple[str, int, Any]:
        return (
            host or settings.review.host,
            port if port is not None else settings.review.port,
            create_app(ReviewConfig.from_settings(settings)),
        )

    try:
        bind_host, bind_port, app = build(load_and_configure())
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    err.print(f"review UI on http://{bind_host}:{bind_port} (API docs: /docs)")
    uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, proxy_headers=True)
