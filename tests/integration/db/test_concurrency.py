"""Several sessions at once: relays claim disjoint outbox rows; stale flag updates conflict.

These tests commit for real (a second session must see the rows), so they delete what they
wrote afterwards.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, update

from pipeline.db import queries
from pipeline.db.base import utcnow
from pipeline.db.engine import open_database, translate_db_errors
from pipeline.db.models import Flag, Item, Outbox
from pipeline.errors import ConflictError, DatabaseUnavailableError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pipeline.db.engine import Database

pytestmark = pytest.mark.integration


@pytest.fixture
async def outbox_rows(database: Database) -> AsyncIterator[list[str]]:
    """Four committed, unpublished outbox events on a topic of this test's own, the only
    unpublished ones: relays claim the oldest of the whole table, so rows that earlier tests
    left unpublished in the session's database are marked published first."""
    topic = f"t-{uuid.uuid4().hex}"
    async with database.sessions.begin() as session:
        await session.execute(
            update(Outbox).where(Outbox.published_at.is_(None)).values(published_at=utcnow())
        )
        ids = [await queries.add_outbox(session, topic, None, {"n": n}) for n in range(4)]
    yield ids
    async with database.sessions.begin() as session:
        await session.execute(delete(Outbox).where(Outbox.topic == topic))


@pytest.fixture
async def flag_id(database: Database) -> AsyncIterator[int]:
    """A committed item with an open flag; both deleted afterwards."""
    async with database.sessions.begin() as session:
        item, _ = await queries.insert_item_if_absent(
            session,
            {
                "kind": "post",
                "tenant": "acme",
                "source": "forum",
                "external_id": uuid.uuid4().hex,
                "content_sha256": "cd" * 32,
                "content_size": 3,
            },
        )
        flag = Flag(item_id=item.id, categories=["hate"], max_score=0.9)
        session.add(flag)
    yield flag.id
    async with database.sessions.begin() as session:
        await session.execute(delete(Item).where(Item.id == item.id))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_relays_claim_disjoint_rows(database: Database, outbox_rows: list[str]) -> None:
    """FOR UPDATE SKIP LOCKED: a second relay skips the rows the first one holds."""
    async with database.sessions.begin() as first, database.sessions.begin() as second:
        mine = {row.event_id for row in await queries.claim_unpublished_outbox(first, 2)}
        theirs = {row.event_id for row in await queries.claim_unpublished_outbox(second, 2)}
    assert len(mine) == len(theirs) == 2
    assert mine.isdisjoint(theirs)
    assert mine | theirs == set(outbox_rows)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_claim_and_mark_holds_disjoint_rows_until_commit(
    database: Database, outbox_rows: list[str]
) -> None:
    """Two relays claim-and-mark disjoint rows, oldest first; a rolled-back claim (a failed
    publish) leaves its rows unpublished for the next one."""
    when = datetime.now(UTC)
    async with database.sessions() as first, database.sessions() as second:
        async with first.begin():
            mine = await queries.claim_and_mark_outbox(first, 2, when)
            async with second.begin():
                theirs = await queries.claim_and_mark_outbox(second, 2, when)
            assert [row.event_id for row in mine] == outbox_rows[:2]
            assert [row.event_id for row in theirs] == outbox_rows[2:]
            assert all(row.published_at == when for row in mine + theirs)
            await first.rollback()  # the publish failed
        async with first.begin():
            again = await queries.claim_and_mark_outbox(first, 10, when)
    assert [row.event_id for row in again] == outbox_rows[:2]


async def test_stale_flag_update_is_a_conflict(database: Database, flag_id: int) -> None:
    """Two reviewers decide on one flag: the later write, from version 1, is refused."""
    async with database.sessions() as stale_session:
        stale = await stale_session.get_one(Flag, flag_id)
        await stale_session.commit()
        async with database.sessions.begin() as other:
            fresh = await other.get_one(Flag, flag_id)
            fresh.status = "upheld"
        stale.status = "dismissed"
        with pytest.raises(ConflictError), translate_db_errors():
            await stale_session.commit()
    async with database.sessions() as check:
        stored = await check.get_one(Flag, flag_id)
        assert (stored.status, stored.version) == ("upheld", 2)


async def test_unreachable_database_is_unavailable() -> None:
    """Connection refused at open: DatabaseUnavailableError, which workers retry."""
    with pytest.raises(DatabaseUnavailableError):
        async with open_database("postgresql+asyncpg://postgres@127.0.0.1:1/modocr"):
            pass
