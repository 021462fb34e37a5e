"""The retention purge on both databases: old content goes, results and decisions stay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.db.engine import open_database, upgrade_database
from pipeline.db.models import WHOLE_ITEM, Decision, DocumentPage, Flag, Item, Verdict
from pipeline.purge import purge_content, run_purge_loop
from pipeline.retention import Retention
from pipeline.retention_cli import retention_app
from pipeline.runtime import open_context
from tests.kafka_fixtures import pipeline_settings

if TYPE_CHECKING:
    from pathlib import Path

    from pipeline.db.engine import Database
    from pipeline.localapi.app import LocalApi
    from pipeline.settings import TopicSettings

pytestmark = pytest.mark.integration

NOW = datetime(2001, 6, 1, 12, 0, tzinfo=UTC)
"""The injected clock, long ago: the session's databases are shared, and the items other tests
write (received now) must stay newer than any cut-off used here."""
RETENTION = Retention(zdr=False, retention_days=30)


async def add_item(database: Database, tenant: str, external_id: str, received_at: datetime) -> int:
    """An item with content, a page, a verdict, a flag and a decision, as workers and reviewers
    leave them."""
    async with database.sessions.begin() as session:
        item = Item(
            kind="document",
            tenant=tenant,
            source="uploads",
            external_id=external_id,
            content_sha256="0" * 64,
            content_size=10,
            page_count=1,
            received_at=received_at,
            status="processed",
            content="secret text",
            filename="secret.pdf",
            metadata_json={"who": "secret"},
            author="secret-author",
        )
        session.add(item)
        await session.flush()
        session.add(
            DocumentPage(
                item_id=item.id,
                page_index=0,
                width=10,
                height=10,
                text_sha256="1" * 64,
                char_count=11,
                markdown="secret text",
            )
        )
        session.add(
            Verdict(
                item_id=item.id,
                page_index=WHOLE_ITEM,
                model="m",
                policy_version="p",
                category_scores={"hate": 0.9},
                categories={"hate": True},
                flagged_categories=["hate"],
                flagged=True,
                max_score=0.9,
            )
        )
        flag = Flag(item_id=item.id, status="upheld", categories=["hate"], max_score=0.9)
        session.add(flag)
        await session.flush()
        session.add(
            Decision(
                flag_id=flag.id,
                item_id=item.id,
                reviewer="ana",
                action="uphold",
                note="keeps",
                status_before="open",
                status_after="upheld",
            )
        )
        return item.id


async def state(database: Database, item_id: int) -> tuple[Item, list[str | None], int, int, int]:
    async with database.sessions() as session:
        item = await session.get_one(Item, item_id)
        pages = list(
            await session.scalars(
                select(DocumentPage.markdown).where(DocumentPage.item_id == item_id)
            )
        )
        verdicts = len(
            list(await session.scalars(select(Verdict.id).where(Verdict.item_id == item_id)))
        )
        flags = len(list(await session.scalars(select(Flag.id).where(Flag.item_id == item_id))))
        decisions = len(
            list(await session.scalars(select(Decision.id).where(Decision.item_id == item_id)))
        )
        return item, pages, verdicts, flags, decisions


async def test_purge_removes_old_content_and_keeps_results(database: Database) -> None:
    """Content older than retention_days is NULLed; newer content and all results stay."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    old = await add_item(database, tenant, "old", NOW - timedelta(days=31))
    recent = await add_item(database, tenant, "recent", NOW - timedelta(days=29))

    result = await purge_content(database, RETENTION, now=NOW, batch=1)

    assert result.cutoff == NOW - timedelta(days=30)
    assert result.items >= 1
    item, pages, verdicts, flags, decisions = await state(database, old)
    assert (item.content, item.filename, item.metadata_json, item.author) == (None,) * 4
    assert item.content_purged_at == NOW
    assert pages == [None]
    assert (verdicts, flags, decisions) == (1, 1, 1)
    assert item.content_sha256 == "0" * 64
    item, pages, verdicts, flags, decisions = await state(database, recent)
    assert item.content == "secret text"
    assert item.metadata_json == {"who": "secret"}
    assert item.content_purged_at is None
    assert pages == ["secret text"]

    again = await purge_content(database, RETENTION, now=NOW)
    assert again.items == 0  # purged once


async def test_the_periodic_purge_runs_as_a_loop_spec(
    db_url: str, broker: str, topics: TopicSettings, local_api: LocalApi
) -> None:
    """run_purge_loop purges at start with the injected clock and, in burst mode, returns."""
    settings = pipeline_settings(db_url, broker, topics, retention_days=7)
    async with open_context(settings, broker, local_api=local_api) as ctx:
        tenant = f"t-{uuid.uuid4().hex[:8]}"
        later = NOW + timedelta(days=400)
        old = await add_item(ctx.database, tenant, "old", later - timedelta(days=8))
        drained = asyncio.Event()
        drained.set()
        async with asyncio.timeout(30):
            purged = await run_purge_loop(
                ctx, asyncio.Event(), 3600.0, inputs_drained=drained, clock=lambda: later
            )
        assert purged >= 1
        item, pages, *_ = await state(ctx.database, old)
        assert item.content is None
        assert pages == [None]


@pytest.mark.timeout(60)
def test_retention_purge_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`modocr retention purge --now ...` on its own database purges and says how much."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'purge.db'}"

    async def prepare() -> None:
        await upgrade_database(url)
        async with open_database(url) as database:
            await add_item(database, "t", "old", NOW - timedelta(days=31))

    asyncio.run(prepare())
    monkeypatch.setenv("MODOCR_DATABASE_URL", url)
    app = typer.Typer()
    app.add_typer(retention_app, name="retention")
    when = NOW.strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(app, ["retention", "purge", "--now", when])
    assert result.exit_code == 0, result.output
    assert "purged the content of 1 item(s) and 1 page(s)" in result.output
