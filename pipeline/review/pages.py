"""The web UI: Jinja2 pages (queue, item, audit, stats) and the token sign-in.

Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure behind https). Every form
carries the session's CSRF token; the sign-in form a double-submit token of its own.
"""

import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from pipeline.errors import ConflictError
from pipeline.mistral.wire import KNOWN_MODERATION_CATEGORIES
from pipeline.review import store
from pipeline.review.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from pipeline.review.deps import (
    ResourcesDep,
    SessionDep,
    UiAdminDep,
    UiReviewerDep,
    UiUser,
    UiViewerDep,
)
from pipeline.review.export import export_response
from pipeline.review.routes import MAX_ID, FiltersDep, SortParam
from pipeline.review.schemas import NOTE_MAX, FlagDetailOut, Verb
from pipeline.review.store import FlagFilters

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
CATEGORIES = KNOWN_MODERATION_CATEGORIES


def _page(
    request: Request, name: str, user: UiUser | None, status_code: int = 200, **context: object
) -> HTMLResponse:
    context.update(request=request, user=user)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _safe_next(path: str | None) -> str:
    """Only same-site paths: never redirect to another host after sign-in."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _check_csrf(user: UiUser, token: str, resources: ResourcesDep) -> None:
    if not resources.signer.check_csrf(user.session, token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid CSRF token: reload the page")


@router.get("/login")
async def login_form(
    request: Request, resources: ResourcesDep, next_path: Annotated[str, Query(alias="next")] = "/"
) -> HTMLResponse:
    token = secrets.token_urlsafe(16)
    response = _page(request, "login.html", None, csrf=token, next=_safe_next(next_path))
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=600,
        httponly=True,
        samesite="strict",
        secure=resources.config.secure_cookies,
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    resources: ResourcesDep,
    session: SessionDep,
    token: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=256)],
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid CSRF token: reload the page")
    reviewer = await store.reviewer_by_token(session, token.strip())
    if reviewer is None:
        fresh = secrets.token_urlsafe(16)
        response = _page(
            request,
            "login.html",
            None,
            status_code=status.HTTP_401_UNAUTHORIZED,
            csrf=fresh,
            next=_safe_next(next_path),
            error="Unknown or revoked token.",
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            fresh,
            max_age=600,
            httponly=True,
            samesite="strict",
            secure=resources.config.secure_cookies,
        )
        return response
    redirect = RedirectResponse(_safe_next(next_path), status.HTTP_303_SEE_OTHER)
    redirect.set_cookie(
        SESSION_COOKIE,
        resources.signer.issue(reviewer.id),
        max_age=int(resources.config.session_max_age_s),
        httponly=True,
        samesite="strict",
        secure=resources.config.secure_cookies,
    )
    redirect.delete_cookie(LOGIN_CSRF_COOKIE)
    return redirect


@router.post("/logout")
async def logout(
    user: UiViewerDep, resources: ResourcesDep, csrf: Annotated[str, Form(max_length=256)]
) -> Response:
    _check_csrf(user, csrf, resources)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


def _query_string(filters: FlagFilters, sort: str, cursor: str | None) -> str:
    pairs: list[tuple[str, str]] = [("status", s) for s in filters.status]
    pairs += [("category", c) for c in filters.category]
    for name in ("tenant", "source", "kind", "q"):
        value = getattr(filters, name)
        if value:
            pairs.append((name, value))
    if filters.min_score is not None:
        pairs.append(("min_score", str(filters.min_score)))
    for name in ("since", "until"):
        value = getattr(filters, name)
        if value is not None:
            pairs.append((name, value.isoformat()))
    pairs.append(("sort", sort))
    if cursor:
        pairs.append(("cursor", cursor))
    return urlencode(pairs)


@router.get("/")
async def queue(
    request: Request,
    user: UiViewerDep,
    resources: ResourcesDep,
    session: SessionDep,
    filters: FiltersDep,
    sort: SortParam = "-created_at",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    page = await store.list_flags(
        session, filters, sort=sort, cursor=cursor, limit=50, retention=resources.retention
    )
    next_url = f"/?{_query_string(filters, sort, page.next_cursor)}" if page.next_cursor else None
    export = _query_string(filters, sort, None)
    return _page(
        request,
        "queue.html",
        user,
        rows=page.rows,
        filters=filters,
        sort=sort,
        next_url=next_url,
        export_query=export,
        categories=CATEGORIES,
        zdr=resources.retention.zdr,
    )


async def _item_page(
    request: Request,
    user: UiUser,
    resources: ResourcesDep,
    flag_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with resources.database.sessions() as session:
        detail = await store.get_flag_detail(session, flag_id, retention=resources.retention)
    return _page(
        request,
        "item.html",
        user,
        status_code=status_code,
        flag=FlagDetailOut.of(detail),
        zdr=resources.retention.zdr,
        error=error,
        note_max=NOTE_MAX,
    )


@router.get("/items/{flag_id}")
async def item(
    request: Request, flag_id: int, user: UiViewerDep, resources: ResourcesDep
) -> HTMLResponse:
    if not 1 <= flag_id <= MAX_ID:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such flag")
    return await _item_page(request, user, resources, flag_id)


@router.post("/items/{flag_id}/decide")
async def decide(
    request: Request,
    flag_id: int,
    user: UiReviewerDep,
    resources: ResourcesDep,
    action: Annotated[Verb, Form()],
    version: Annotated[int, Form(ge=0, le=2**31 - 1)],
    csrf: Annotated[str, Form(max_length=256)],
    note: Annotated[str, Form(max_length=NOTE_MAX)] = "",
) -> Response:
    _check_csrf(user, csrf, resources)
    return await _decide_then_show(
        request, user, resources, flag_id, action, version, note.replace("\x00", "") or None
    )


@router.post("/items/{flag_id}/claim")
async def claim(
    request: Request,
    flag_id: int,
    user: UiReviewerDep,
    resources: ResourcesDep,
    version: Annotated[int, Form(ge=0, le=2**31 - 1)],
    csrf: Annotated[str, Form(max_length=256)],
) -> Response:
    _check_csrf(user, csrf, resources)
    return await _decide_then_show(request, user, resources, flag_id, "claim", version, None)


async def _decide_then_show(
    request: Request,
    user: UiUser,
    resources: ResourcesDep,
    flag_id: int,
    action: str,
    version: int,
    note: str | None,
) -> Response:
    """Record the decision, then show the item again (with the conflict, on a stale version)."""
    try:
        await store.decide(
            resources.database.sessions,
            flag_id,
            action=action,
            version=version,
            reviewer=user.principal.name,
            note=note,
            topic=resources.config.decisions_topic,
            retention=resources.retention,
        )
    except ConflictError as exc:
        return await _item_page(
            request, user, resources, flag_id, error=str(exc), status_code=status.HTTP_409_CONFLICT
        )
    return RedirectResponse(f"/items/{flag_id}", status.HTTP_303_SEE_OTHER)


@router.get("/export")
async def export(
    _: UiViewerDep,
    resources: ResourcesDep,
    filters: FiltersDep,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
    sort: SortParam = "-created_at",
) -> StreamingResponse:
    """The queue's filters as a CSV or JSONL download (signed-in reviewers)."""
    return export_response(resources, filters, fmt, sort)


@router.get("/audit")
async def audit(
    request: Request,
    user: UiAdminDep,
    session: SessionDep,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    rows, next_before = await store.list_decisions(session, before_id=before_id, limit=100)
    return _page(request, "audit.html", user, rows=rows, next_before=next_before)


@router.get("/stats")
async def stats_page(
    request: Request,
    user: UiViewerDep,
    resources: ResourcesDep,
    session: SessionDep,
    filters: FiltersDep,
) -> HTMLResponse:
    result = await store.flag_stats(session, filters, retention=resources.retention)
    return _page(request, "stats.html", user, stats=result, chart=bar_chart(result.by_day))


def bar_chart(counts: dict[str, int], *, width: int = 720, height: int = 220) -> dict[str, Any]:
    """Geometry of an inline SVG bar chart of ``counts`` (label → value), in input order."""
    labels = list(counts)
    peak = max(counts.values(), default=0) or 1
    slot = width / max(len(labels), 1)
    plot = height - 40
    bars = [
        {
            "x": round(i * slot + slot * 0.1, 1),
            "y": round(10 + plot * (1 - value / peak), 1),
            "w": round(slot * 0.8, 1),
            "h": round(plot * value / peak, 1),
            "label": label,
            "value": value,
        }
        for i, (label, value) in enumerate(counts.items())
    ]
    return {"width": width, "height": height, "bars": bars, "peak": peak}
