"""The review HTTP API (``/api/v1``) and ``/healthz``: validate → query → response schema.

Viewers read, reviewers decide, admins also read the audit log and manage reviewers.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy import text

from pipeline.errors import NotFoundError
from pipeline.review import store
from pipeline.review.deps import (
    AdminDep,
    ResourcesDep,
    ReviewerDep,
    SessionDep,
    ViewerDep,
)
from pipeline.review.export import export_response
from pipeline.review.schemas import (
    Action,
    AssignIn,
    AuditPage,
    ClaimIn,
    DecisionIn,
    DecisionOut,
    DecisionResult,
    FlagDetailOut,
    FlagList,
    FlagStatus,
    FlagSummary,
    Health,
    Me,
    NewReviewer,
    ReviewerIn,
    ReviewerOut,
    StatsOut,
    Text,
)

MAX_ID = 2**63 - 1
FlagId = Annotated[int, Path(ge=1, le=MAX_ID, description="The flag's id.")]
Name = Annotated[Text, Query(min_length=1, max_length=256)]


def flag_filters(
    status: Annotated[list[FlagStatus] | None, Query(description="Any of these.")] = None,
    category: Annotated[
        list[Annotated[Text, Query(max_length=64)]] | None,
        Query(description="Flagged in any of these categories."),
    ] = None,
    tenant: Name | None = None,
    source: Name | None = None,
    kind: Literal["post", "document"] | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Flagged at or after.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Flagged before.")] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    q: Annotated[
        Text | None,
        Query(min_length=1, max_length=200, description="Search retained content (not ZDR)."),
    ] = None,
) -> store.FlagFilters:
    """The filters shared by the queue, the export and the stats."""
    return store.FlagFilters(
        status=tuple(status or ()),
        category=tuple(category or ()),
        tenant=tenant,
        source=source,
        kind=kind,
        since=since,
        until=until,
        min_score=min_score,
        q=q,
    )


FiltersDep = Annotated[store.FlagFilters, Depends(flag_filters)]
SortParam = Annotated[
    Literal["-created_at", "created_at", "-max_score", "max_score"],
    Query(description="Sort key; a leading '-' sorts descending."),
]

health_router = APIRouter(tags=["health"])
router = APIRouter(prefix="/api/v1")


@health_router.get("/healthz")
async def healthz(session: SessionDep) -> Health:
    """Liveness and database reachability (no authentication)."""
    await session.execute(text("SELECT 1"))
    return Health(database=session.get_bind().dialect.name)


@router.get("/me", tags=["auth"])
async def me(principal: ViewerDep) -> Me:
    """Who the token belongs to."""
    return Me(name=principal.name, role=principal.role)


@router.get("/flagged", tags=["flagged"])
async def list_flagged(
    _: ViewerDep,
    resources: ResourcesDep,
    session: SessionDep,
    filters: FiltersDep,
    sort: SortParam = "-created_at",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FlagList:
    """Flagged items matching the filters, one page at a time (cursor pagination)."""
    page = await store.list_flags(
        session, filters, sort=sort, cursor=cursor, limit=limit, retention=resources.retention
    )
    return FlagList(items=[FlagSummary.of(r) for r in page.rows], next_cursor=page.next_cursor)


@router.get("/flagged/export", tags=["flagged"])
async def export_flagged(
    _: ViewerDep,
    resources: ResourcesDep,
    filters: FiltersDep,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
    sort: SortParam = "-created_at",
) -> StreamingResponse:
    """Every flagged item matching the filters, streamed as CSV or JSONL (no content)."""
    return export_response(resources, filters, fmt, sort)


@router.get("/flagged/{flag_id}", tags=["flagged"])
async def show_flagged(
    flag_id: FlagId, _: ViewerDep, resources: ResourcesDep, session: SessionDep
) -> FlagDetailOut:
    """A flagged item: every score, model and policy version, content or its reference."""
    detail = await store.get_flag_detail(session, flag_id, retention=resources.retention)
    return FlagDetailOut.of(detail)


def _result(outcome: store.Outcome) -> DecisionResult:
    return DecisionResult(
        decision=DecisionOut.of(outcome.decision),
        status=outcome.status,
        assignee=outcome.assignee,
        version=outcome.version,
    )


@router.post("/flagged/{flag_id}/decisions", tags=["decisions"])
async def decide(
    flag_id: FlagId, body: DecisionIn, principal: ReviewerDep, resources: ResourcesDep
) -> DecisionResult:
    """Uphold, dismiss or escalate a flag at the version the client saw (409 if stale)."""
    outcome = await store.decide(
        resources.database.sessions,
        flag_id,
        action=body.action,
        version=body.version,
        reviewer=principal.name,
        note=body.note,
        topic=resources.config.decisions_topic,
        retention=resources.retention,
    )
    return _result(outcome)


@router.post("/flagged/{flag_id}/claim", tags=["decisions"])
async def claim(
    flag_id: FlagId, body: ClaimIn, principal: ReviewerDep, resources: ResourcesDep
) -> DecisionResult:
    """Assign the flag to yourself (409 if stale or someone else holds it)."""
    outcome = await store.decide(
        resources.database.sessions,
        flag_id,
        action="claim",
        version=body.version,
        reviewer=principal.name,
        topic=resources.config.decisions_topic,
        retention=resources.retention,
    )
    return _result(outcome)


@router.post("/flagged/{flag_id}/assign", tags=["decisions"])
async def assign(
    flag_id: FlagId,
    body: AssignIn,
    principal: AdminDep,
    resources: ResourcesDep,
    session: SessionDep,
) -> DecisionResult:
    """Give the flag to an active reviewer, or unassign it (admins)."""
    if body.assignee is not None:
        found = await store.active_reviewer_named(session, body.assignee)
        if found is None or found.role == "viewer":
            raise NotFoundError(f"no active reviewer named {body.assignee!r}")
    await session.close()
    outcome = await store.decide(
        resources.database.sessions,
        flag_id,
        action="assign",
        version=body.version,
        reviewer=principal.name,
        note=body.note,
        assignee=body.assignee,
        topic=resources.config.decisions_topic,
        retention=resources.retention,
    )
    return _result(outcome)


@router.get("/audit", tags=["audit"])
async def audit(
    _: AdminDep,
    session: SessionDep,
    reviewer: Name | None = None,
    action: Action | None = None,
    flag_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """The append-only decision log, newest first (admins)."""
    rows, next_before = await store.list_decisions(
        session,
        reviewer=reviewer,
        action=action,
        flag_id=flag_id,
        before_id=before_id,
        limit=limit,
    )
    return AuditPage(items=[DecisionOut.of(d) for d in rows], next_before_id=next_before)


@router.get("/stats", tags=["stats"])
async def stats(
    _: ViewerDep, resources: ResourcesDep, session: SessionDep, filters: FiltersDep
) -> StatsOut:
    """Counts of flagged items by category, status and day."""
    result = await store.flag_stats(session, filters, retention=resources.retention)
    return StatsOut(
        total=result.total,
        by_category=result.by_category,
        by_status=result.by_status,
        by_day=result.by_day,
    )


@router.get("/reviewers", tags=["reviewers"])
async def list_reviewers(_: AdminDep, session: SessionDep) -> list[ReviewerOut]:
    """Every reviewer, revoked ones included (admins)."""
    return [ReviewerOut.of(r) for r in await store.list_reviewers(session)]


@router.post("/reviewers", status_code=status.HTTP_201_CREATED, tags=["reviewers"])
async def add_reviewer(body: ReviewerIn, _: AdminDep, session: SessionDep) -> NewReviewer:
    """Create a reviewer; the token is in this response only (admins)."""
    async with session.begin():
        reviewer, token = await store.add_reviewer(session, body.name, body.role)
    return NewReviewer(reviewer=ReviewerOut.of(reviewer), token=token)


@router.post("/reviewers/{name}/revoke", tags=["reviewers"])
async def revoke_reviewer(
    name: Annotated[Text, Path(min_length=1, max_length=256)],
    _: AdminDep,
    session: SessionDep,
) -> ReviewerOut:
    """Revoke a reviewer's token; their API calls and UI sessions stop at once (admins)."""
    async with session.begin():
        reviewer = await store.revoke_reviewer(session, name)
    return ReviewerOut.of(reviewer)
