"""Queries of the review API, UI and CLI: flagged items, decisions, audit, stats, reviewers.

Plain typed async functions over a session (or the session factory, for the ones that own
their transaction). Filters and keyset cursors are shared by the list, the export and stats.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from sqlalchemy import and_, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import selectinload

from pipeline.db.base import utcnow
from pipeline.db.engine import translate_db_errors
from pipeline.db.models import Decision, Flag, Item, Reviewer, Verdict
from pipeline.db.queries import add_outbox, dialect_name
from pipeline.errors import ConflictError, DatabaseUnavailableError, NotFoundError
from pipeline.review.auth import hash_token, new_token
from schemas.decisions import DecisionEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from pipeline.retention import Retention

Sort = Literal["-created_at", "created_at", "-max_score", "max_score"]
SORTS: Final = get_args(Sort)
Verb = Literal["uphold", "dismiss", "escalate"]
STATUS_AFTER: Final[dict[str, str]] = {
    "uphold": "upheld",
    "dismiss": "dismissed",
    "escalate": "escalated",
}
EXCERPT_CHARS: Final = 160
DECISION_ATTEMPTS: Final = 3
"""A decision's transaction is retried this often when the database asks for a retry
(SQLite's busy snapshot, PostgreSQL's serialization failure); a stale version is never retried."""


class InvalidQueryError(ValueError):
    """A filter, sort or cursor the client sent cannot be used (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class FlagFilters:
    """What the queue, the export and the stats are narrowed to; empty means everything.

    Several statuses or categories match any of them. ``since``/``until`` bound the flag's
    creation time (inclusive, exclusive). ``q`` searches retained content, case-insensitively.
    """

    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    tenant: str | None = None
    source: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class FlagRow:
    """One line of the queue or the export: the flag and its item's reference."""

    flag_id: int
    item_id: int
    kind: str
    tenant: str
    source: str
    external_id: str
    content_sha256: str
    status: str
    categories: list[str]
    max_score: float
    assignee: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    excerpt: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results and the cursor of the next (None on the last page)."""

    rows: list[FlagRow]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class FlagDetail:
    """Everything the item page shows: flag, item, verdicts, pages, the flag's decisions."""

    flag: Flag
    item: Item
    verdicts: list[Verdict]
    decisions: list[Decision]
    content_visible: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a decision: the audit row and the flag as it now is."""

    decision: Decision
    flag_id: int
    status: str
    assignee: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Flag counts by category, status and UTC day (of ``created_at``)."""

    total: int
    by_category: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_day: dict[str, int] = field(default_factory=dict)


# --- filters, sorting, cursors ---------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_category(dialect: str, category: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(Flag.categories, JSONB).contains([category])
    elements = func.json_each(Flag.categories).table_valued("value")
    return exists().select_from(elements).where(elements.c.value == category)


def _utc(value: datetime) -> datetime:
    """The instant in UTC, as stored; year 1 at +01:00 (or 9999 at -01:00) has no UTC form."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidQueryError(f"{value.isoformat()} is out of range in UTC") from exc


def validate_filters(filters: FlagFilters, retention: Retention) -> None:
    """Refuse, before any query runs, what the query would refuse (an export has to know
    before its response starts). Raises ``InvalidQueryError``."""
    if filters.q and retention.zdr:
        raise InvalidQueryError("text search is unavailable under ZDR: no content is kept")
    for value in (filters.since, filters.until):
        if value is not None:
            _utc(value)


def _where(dialect: str, filters: FlagFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.status:
        clauses.append(Flag.status.in_(filters.status))
    if filters.category:
        clauses.append(or_(*(_has_category(dialect, c) for c in filters.category)))
    if filters.tenant is not None:
        clauses.append(Item.tenant == filters.tenant)
    if filters.source is not None:
        clauses.append(Item.source == filters.source)
    if filters.kind is not None:
        clauses.append(Item.kind == filters.kind)
    if filters.since is not None:
        clauses.append(Flag.created_at >= _utc(filters.since))
    if filters.until is not None:
        clauses.append(Flag.created_at < _utc(filters.until))
    if filters.min_score is not None:
        clauses.append(Flag.max_score >= filters.min_score)
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        clauses.append(Item.content.ilike(pattern, escape="\\"))
    return clauses


def encode_cursor(sort: str, value: datetime | float, flag_id: int) -> str:
    """An opaque cursor: the sort and the (key, id) of the last row returned."""
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps({"s": sort, "v": shown, "i": flag_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[datetime | float, int]:
    """The (key, id) a cursor holds. Raises ``InvalidQueryError`` for a foreign or bad cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if body["s"] != sort:
            raise InvalidQueryError("the cursor belongs to another sort order")
        flag_id = int(body["i"])
        if not 0 <= flag_id < 2**63:
            raise InvalidQueryError("invalid cursor")
        if sort.endswith("created_at"):
            when = datetime.fromisoformat(body["v"])
            if when.tzinfo is None:
                raise InvalidQueryError("invalid cursor")
            value: datetime | float = when
        else:
            value = float(body["v"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        if isinstance(exc, InvalidQueryError):
            raise
        raise InvalidQueryError("invalid cursor") from exc
    return value, flag_id


def _flag_rows_query(dialect: str, filters: FlagFilters, *, with_excerpt: bool) -> Select[Any]:
    excerpt = func.substr(Item.content, 1, EXCERPT_CHARS) if with_excerpt else None
    columns: list[Any] = [
        Flag.id,
        Flag.item_id,
        Item.kind,
        Item.tenant,
        Item.source,
        Item.external_id,
        Item.content_sha256,
        Flag.status,
        Flag.categories,
        Flag.max_score,
        Flag.assignee,
        Flag.version,
        Flag.created_at,
        Flag.updated_at,
    ]
    if excerpt is not None:
        columns.append(excerpt.label("excerpt"))
    return select(*columns).join(Item, Flag.item_id == Item.id).where(*_where(dialect, filters))


async def list_flags(
    session: AsyncSession,
    filters: FlagFilters,
    *,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
    retention: Retention,
) -> Page:
    """One page of flags matching ``filters``, in ``sort`` order, after ``cursor``.

    Keyset pagination on (sort key, flag id): pages stay consistent while flags are added,
    and every page costs the same however deep it is.

    Raises:
        InvalidQueryError: unknown sort, bad cursor, or a text search under ZDR.
    """
    if sort not in SORTS:
        raise InvalidQueryError(f"sort must be one of {', '.join(SORTS)}")
    validate_filters(filters, retention)
    dialect = dialect_name(session)
    key = Flag.created_at if sort.endswith("created_at") else Flag.max_score
    descending = sort.startswith("-")
    statement = _flag_rows_query(dialect, filters, with_excerpt=not retention.zdr)
    if cursor:
        value, last_id = decode_cursor(sort, cursor)
        if descending:
            statement = statement.where(or_(key < value, and_(key == value, Flag.id < last_id)))
        else:
            statement = statement.where(or_(key > value, and_(key == value, Flag.id > last_id)))
    order = (key.desc(), Flag.id.desc()) if descending else (key.asc(), Flag.id.asc())
    statement = statement.order_by(*order).limit(limit + 1)
    with translate_db_errors():
        result = (await session.execute(statement)).all()
    rows = [_flag_row(r, with_excerpt=not retention.zdr) for r in result[:limit]]
    next_cursor = None
    if len(result) > limit and rows:
        last = rows[-1]
        last_key = last.created_at if sort.endswith("created_at") else last.max_score
        next_cursor = encode_cursor(sort, last_key, last.flag_id)
    return Page(rows, next_cursor)


def _flag_row(row: Any, *, with_excerpt: bool) -> FlagRow:  # noqa: ANN401 - a SQLAlchemy Row
    return FlagRow(
        flag_id=row[0],
        item_id=row[1],
        kind=row[2],
        tenant=row[3],
        source=row[4],
        external_id=row[5],
        content_sha256=row[6],
        status=row[7],
        categories=list(row[8] or []),
        max_score=float(row[9]),
        assignee=row[10],
        version=row[11],
        created_at=row[12],
        updated_at=row[13],
        excerpt=row[14] if with_excerpt else None,
    )


async def iter_flags(
    sessions: async_sessionmaker[AsyncSession],
    filters: FlagFilters,
    *,
    sort: str = "-created_at",
    retention: Retention,
    chunk: int = 100,
) -> AsyncIterator[FlagRow]:
    """Every flag matching ``filters``, fetched ``chunk`` rows at a time (keyset pages).

    Each chunk is its own short read transaction, so a long export holds no connection or
    snapshot between chunks and its memory stays flat whatever the number of rows.
    """
    cursor: str | None = None
    while True:
        async with sessions() as session:
            page = await list_flags(
                session, filters, sort=sort, cursor=cursor, limit=chunk, retention=retention
            )
        for row in page.rows:
            yield row
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# --- one flag --------------------------------------------------------------------------------


async def get_flag_detail(
    session: AsyncSession, flag_id: int, *, retention: Retention
) -> FlagDetail:
    """A flag with its item (and pages), every verdict and its decisions.

    Raises:
        NotFoundError: no such flag.
    """
    statement = (
        select(Flag)
        .where(Flag.id == flag_id)
        .options(
            selectinload(Flag.item).selectinload(Item.pages),
            selectinload(Flag.decisions),
        )
    )
    with translate_db_errors():
        flag = (await session.execute(statement)).scalar_one_or_none()
        if flag is None:
            raise NotFoundError(f"flag {flag_id} not found")
        verdicts = list(
            (
                await session.execute(
                    select(Verdict)
                    .where(Verdict.item_id == flag.item_id)
                    .order_by(Verdict.page_index)
                )
            ).scalars()
        )
    visible = not retention.zdr and flag.item.content_purged_at is None
    return FlagDetail(flag, flag.item, verdicts, list(flag.decisions), visible)


async def decide(
    sessions: async_sessionmaker[AsyncSession],
    flag_id: int,
    *,
    action: str,
    version: int,
    reviewer: str,
    note: str | None = None,
    assignee: str | None = None,
    topic: str,
    retention: Retention,
) -> Outcome:
    """Apply a reviewer's action to a flag at ``version``; write the audit row and the event.

    ``uphold``/``dismiss``/``escalate`` set the status; ``claim`` assigns the flag to
    ``reviewer`` (refused if someone else holds it); ``assign`` gives it to ``assignee``.
    The flag row, the append-only ``decisions`` row and the ``DecisionEvent`` outbox row
    commit together. The version check is optimistic: a stale ``version`` (the client saw an
    older flag, or a concurrent decision committed first) raises ``ConflictError``.

    Raises:
        NotFoundError: no such flag.
        ConflictError: stale version, or the flag is claimed by someone else.
    """
    for attempt in range(1, DECISION_ATTEMPTS + 1):
        try:
            return await _decide_once(
                sessions,
                flag_id,
                action=action,
                version=version,
                reviewer=reviewer,
                note=retention.text(note),
                assignee=assignee,
                topic=topic,
            )
        except DatabaseUnavailableError:
            if attempt == DECISION_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _decide_once(
    sessions: async_sessionmaker[AsyncSession],
    flag_id: int,
    *,
    action: str,
    version: int,
    reviewer: str,
    note: str | None,
    assignee: str | None,
    topic: str,
) -> Outcome:
    with translate_db_errors():
        async with sessions() as session, session.begin():
            statement = select(Flag).where(Flag.id == flag_id).options(selectinload(Flag.item))
            flag = (await session.execute(statement)).scalar_one_or_none()
            if flag is None:
                raise NotFoundError(f"flag {flag_id} not found")
            if flag.version != version:
                raise ConflictError(
                    f"flag {flag_id} changed: it is at version {flag.version}, not {version}"
                )
            before = flag.status
            if action in STATUS_AFTER:
                flag.status = STATUS_AFTER[action]
            elif action == "claim":
                if flag.assignee not in (None, reviewer):
                    raise ConflictError(f"flag {flag_id} is claimed by {flag.assignee}")
                flag.assignee = reviewer
            elif action == "assign":
                flag.assignee = assignee
            else:
                raise ValueError(f"unknown action {action!r}")
            flag.updated_at = utcnow()
            decision = Decision(
                flag_id=flag.id,
                item_id=flag.item_id,
                reviewer=reviewer,
                action=action,
                note=note,
                status_before=before,
                status_after=flag.status,
            )
            session.add(decision)
            await session.flush()  # the versioned UPDATE: StaleDataError if another won
            item = flag.item
            event = DecisionEvent(
                flag_id=flag.id,
                item_id=item.id,
                tenant=item.tenant,
                source=item.source,
                external_id=item.external_id,
                action=action,
                status_before=before,
                status_after=flag.status,
                reviewer=reviewer,
            )
            await add_outbox(
                session,
                topic,
                f"{item.tenant}/{item.source}/{item.external_id}",
                event.model_dump(mode="json"),
                event_id=event.event_id,
            )
            return Outcome(decision, flag.id, flag.status, flag.assignee, flag.version)


# --- audit and stats -------------------------------------------------------------------------


async def list_decisions(
    session: AsyncSession,
    *,
    reviewer: str | None = None,
    action: str | None = None,
    flag_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> tuple[list[Decision], int | None]:
    """The audit log, newest first, and the ``before_id`` of the next page (None: last)."""
    statement = select(Decision).order_by(Decision.id.desc()).limit(limit + 1)
    if reviewer is not None:
        statement = statement.where(Decision.reviewer == reviewer)
    if action is not None:
        statement = statement.where(Decision.action == action)
    if flag_id is not None:
        statement = statement.where(Decision.flag_id == flag_id)
    if before_id is not None:
        statement = statement.where(Decision.id < before_id)
    with translate_db_errors():
        rows = list((await session.execute(statement)).scalars())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit and page else None)


async def flag_stats(session: AsyncSession, filters: FlagFilters, *, retention: Retention) -> Stats:
    """Counts of the flags matching ``filters`` by category, status and day."""
    validate_filters(filters, retention)
    dialect = dialect_name(session)
    where = _where(dialect, filters)
    base = select(Flag.id).join(Item, Flag.item_id == Item.id).where(*where).subquery()
    day = func.date(Flag.created_at)
    if dialect == "postgresql":
        elements = func.jsonb_array_elements_text(type_coerce(Flag.categories, JSONB))
    else:
        elements = func.json_each(Flag.categories)
    category = elements.table_valued("value").alias("category")
    with translate_db_errors():
        total = (await session.execute(select(func.count()).select_from(base))).scalar_one()
        statuses = await session.execute(
            select(Flag.status, func.count())
            .where(Flag.id.in_(select(base.c.id)))
            .group_by(Flag.status)
        )
        days = await session.execute(
            select(day, func.count())
            .where(Flag.id.in_(select(base.c.id)))
            .group_by(day)
            .order_by(day)
        )
        categories = await session.execute(
            select(category.c.value, func.count())
            .select_from(Flag)
            .join(category, category.c.value.is_not(None))
            .where(Flag.id.in_(select(base.c.id)))
            .group_by(category.c.value)
            .order_by(func.count().desc(), category.c.value)
        )
        return Stats(
            total=total,
            by_category={str(k): v for k, v in categories.all()},
            by_status={str(k): v for k, v in statuses.all()},
            by_day={str(k): v for k, v in days.all()},
        )


# --- reviewers -------------------------------------------------------------------------------


async def add_reviewer(session: AsyncSession, name: str, role: str) -> tuple[Reviewer, str]:
    """Create a reviewer; return it and its token (shown once: only its hash is stored).

    Raises:
        ConflictError: the name is taken.
    """
    token = new_token()
    reviewer = Reviewer(name=name, role=role, token_hash=hash_token(token))
    session.add(reviewer)
    with translate_db_errors():
        await session.flush()
    return reviewer, token


async def list_reviewers(session: AsyncSession) -> Sequence[Reviewer]:
    with translate_db_errors():
        return (await session.execute(select(Reviewer).order_by(Reviewer.name))).scalars().all()


async def revoke_reviewer(session: AsyncSession, name: str) -> Reviewer:
    """Revoke a reviewer's token (idempotent); their sessions end at their next request.

    Raises:
        NotFoundError: no such reviewer.
    """
    with translate_db_errors():
        reviewer = (
            await session.execute(select(Reviewer).where(Reviewer.name == name))
        ).scalar_one_or_none()
        if reviewer is None:
            raise NotFoundError(f"reviewer {name!r} not found")
        if reviewer.revoked_at is None:
            reviewer.revoked_at = utcnow()
            await session.flush()
    return reviewer


async def reviewer_by_token(session: AsyncSession, token: str) -> Reviewer | None:
    """The active (not revoked) reviewer holding ``token``."""
    statement = select(Reviewer).where(
        Reviewer.token_hash == hash_token(token), Reviewer.revoked_at.is_(None)
    )
    with translate_db_errors():
        return (await session.execute(statement)).scalar_one_or_none()


async def reviewer_by_id(session: AsyncSession, reviewer_id: int) -> Reviewer | None:
    """The active reviewer with this id (a session cookie's subject)."""
    statement = select(Reviewer).where(Reviewer.id == reviewer_id, Reviewer.revoked_at.is_(None))
    with translate_db_errors():
        return (await session.execute(statement)).scalar_one_or_none()


async def active_reviewer_named(session: AsyncSession, name: str) -> Reviewer | None:
    statement = select(Reviewer).where(Reviewer.name == name, Reviewer.revoked_at.is_(None))
    with translate_db_errors():
        return (await session.execute(statement)).scalar_one_or_none()
