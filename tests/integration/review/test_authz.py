"""The authorization matrix: anonymous, viewer, reviewer, admin, revoked by every route.

API routes authenticate a bearer token (401 without a valid one, 403 without the role); web
pages a session cookie (303 to the sign-in page without a valid one, 403 without the role).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from fastapi.routing import APIRoute

from pipeline.review import pages, routes
from pipeline.review.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from tests.integration.review import seed

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from pipeline.db.engine import Database
    from pipeline.review.resources import Resources

pytestmark = pytest.mark.integration

WHO = ("anonymous", "viewer", "reviewer", "admin", "revoked")
LOGIN = "303→/login"
BACK = "303→/items"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    expected: tuple[int | str, ...]
    """One status per principal, in ``WHO`` order; "303→/x" is a redirect to /x."""
    body: str = "none"
    ui: bool = False


OPEN = (200, 200, 200, 200, 200)
READ = (401, 200, 200, 200, 401)
DECIDE = (401, 403, 200, 200, 401)
ADMIN = (401, 403, 403, 200, 401)
UI_READ = (LOGIN, 200, 200, 200, LOGIN)
UI_DECIDE = (LOGIN, 403, BACK, BACK, LOGIN)

MATRIX = (
    Route("GET", "/healthz", OPEN),
    Route("GET", "/api/v1/me", READ),
    Route("GET", "/api/v1/flagged", READ),
    Route("GET", "/api/v1/flagged/export", READ),
    Route("GET", "/api/v1/flagged/{flag_id}", READ),
    Route("POST", "/api/v1/flagged/{flag_id}/decisions", DECIDE, body="decision"),
    Route("POST", "/api/v1/flagged/{flag_id}/claim", DECIDE, body="version"),
    Route("POST", "/api/v1/flagged/{flag_id}/assign", ADMIN, body="version"),
    Route("GET", "/api/v1/audit", ADMIN),
    Route("GET", "/api/v1/stats", READ),
    Route("GET", "/api/v1/reviewers", ADMIN),
    Route("POST", "/api/v1/reviewers", (401, 403, 403, 201, 401), body="reviewer"),
    Route("POST", "/api/v1/reviewers/{name}/revoke", ADMIN),
    Route("GET", "/login", OPEN, ui=True),
    Route("POST", "/login", (401, "303→/", "303→/", "303→/", 401), body="login", ui=True),
    Route("POST", "/logout", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN), body="csrf", ui=True),
    Route("GET", "/", UI_READ, ui=True),
    Route("GET", "/items/{flag_id}", UI_READ, ui=True),
    Route("POST", "/items/{flag_id}/decide", UI_DECIDE, body="form-decision", ui=True),
    Route("POST", "/items/{flag_id}/claim", UI_DECIDE, body="form-version", ui=True),
    Route("GET", "/export", UI_READ, ui=True),
    Route("GET", "/audit", (LOGIN, 403, 403, 200, LOGIN), ui=True),
    Route("GET", "/stats", UI_READ, ui=True),
)
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_matrix_covers_every_route() -> None:
    """No route escapes the matrix: adding one without its row fails here."""
    every = [*routes.health_router.routes, *routes.router.routes, *pages.router.routes]
    served_routes = {
        (method, route.path)
        for route in every
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    served = {(r.method, r.path) for r in MATRIX}
    assert served_routes == served


@dataclass
class Caller:
    who: str
    token: str | None = None
    cookie: str | None = None


async def callers(app: FastAPI, database: Database) -> dict[str, Caller]:
    resources: Resources = app.state.resources
    found = {"anonymous": Caller("anonymous")}
    for role in ("viewer", "reviewer", "admin"):
        name, token = await seed.reviewer(database, role)
        found[role] = Caller(role, token, resources.signer.issue(await _id(database, name)))
    name, token = await seed.reviewer(database, "admin")
    cookie = resources.signer.issue(await _id(database, name))
    async with database.sessions() as session, session.begin():
        from pipeline.review import store

        await store.revoke_reviewer(session, name)
    found["revoked"] = Caller("revoked", token, cookie)
    return found


async def _id(database: Database, name: str) -> int:
    from sqlalchemy import select

    from pipeline.db.models import Reviewer

    async with database.sessions() as session:
        return (
            await session.execute(select(Reviewer.id).where(Reviewer.name == name))
        ).scalar_one()


def _outcome(response: httpx.Response) -> int | str:
    if response.status_code == 303:
        location = response.headers["location"].split("?")[0]
        return "303→" + ("/items" if location.startswith("/items/") else location)
    return response.status_code


@pytest.mark.parametrize("route", MATRIX, ids=lambda r: f"{r.method} {r.path}")
async def test_authorization_matrix(
    route: Route, app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """Each principal gets the expected status on this route."""
    people = await callers(app, database)
    resources: Resources = app.state.resources
    got: list[int | str] = []
    for who in WHO:
        caller = people[who]
        [flag_id] = await seed.seed(database, seed.new_tenant(), [seed.Spec()])
        victim, _ = await seed.reviewer(database, "viewer")
        path = route.path.format(flag_id=flag_id, name=victim)
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        csrf = "x"
        if route.ui and caller.cookie:
            cookies[SESSION_COOKIE] = caller.cookie
            session = resources.signer.verify(caller.cookie)
            assert session is not None
            csrf = resources.signer.csrf_token(session)
        elif not route.ui and caller.token:
            headers["Authorization"] = f"Bearer {caller.token}"
        bodies: dict[str, dict[str, object]] = {
            "decision": {"json": {"action": "escalate", "version": 1}},
            "version": {"json": {"version": 1}},
            "reviewer": {"json": {"name": f"n-{uuid.uuid4().hex[:8]}", "role": "viewer"}},
            "csrf": {"data": {"csrf": csrf}},
            "form-decision": {"data": {"action": "dismiss", "version": "1", "csrf": csrf}},
            "form-version": {"data": {"version": "1", "csrf": csrf}},
            "login": {"data": {"token": caller.token or "no-such-token", "csrf": "c"}},
            "none": {},
        }
        if route.body == "login":
            cookies[LOGIN_CSRF_COOKIE] = "c"
        client.cookies.clear()
        for key, value in cookies.items():
            client.cookies.set(key, value)
        response = await client.request(
            route.method,
            path,
            headers=headers,
            **bodies[route.body],  # type: ignore[arg-type]
        )
        got.append(_outcome(response))
    client.cookies.clear()
    assert dict(zip(WHO, got, strict=True)) == dict(zip(WHO, route.expected, strict=True))


async def test_ui_forms_refuse_a_wrong_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """A signed-in reviewer's form post without the session's CSRF token is a 403."""
    people = await callers(app, database)
    [flag_id] = await seed.seed(database, seed.new_tenant(), [seed.Spec()])
    cookie = people["reviewer"].cookie
    assert cookie is not None
    client.cookies.set(SESSION_COOKIE, cookie)
    response = await client.post(
        f"/items/{flag_id}/decide", data={"action": "uphold", "version": "1", "csrf": "forged"}
    )
    client.cookies.clear()
    assert response.status_code == 403


async def test_sign_in_sets_a_strict_httponly_cookie(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Signing in with a token needs the form's CSRF token and sets a hardened cookie."""
    _, token = await seed.reviewer(database, "viewer")
    form = await client.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    refused = await client.post("/login", data={"token": token, "csrf": "nope"})
    assert refused.status_code == 403
    wrong = await client.post("/login", data={"token": "not-a-token", "csrf": csrf})
    assert wrong.status_code == 401
    csrf = wrong.text.split('name="csrf" value="')[1].split('"')[0]
    ok = await client.post("/login", data={"token": token, "csrf": csrf, "next": "//evil.test"})
    assert ok.status_code == 303
    assert ok.headers["location"] == "/"
    cookie = next(
        v for k, v in ok.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie
    page = await client.get("/")
    client.cookies.clear()
    assert page.status_code == 200
    assert "Flagged items" in page.text


async def test_pages_show_html_errors_and_api_json(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """A missing flag is a 404 page in the UI and a JSON 404 in the API."""
    people = await callers(app, database)
    cookie = people["viewer"].cookie
    assert cookie is not None
    client.cookies.set(SESSION_COOKIE, cookie)
    page = await client.get("/items/999999999")
    client.cookies.clear()
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "not found" in page.text
    api = await client.get(
        "/api/v1/flagged/999999999", headers={"Authorization": f"Bearer {people['viewer'].token}"}
    )
    assert api.status_code == 404
    assert api.json() == {"detail": "flag 999999999 not found"}
