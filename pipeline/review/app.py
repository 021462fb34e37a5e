"""``create_app(config)``: the review API and web UI; the lifespan opens and closes resources.

Errors map once, here: ``NotFoundError`` → 404, ``ConflictError`` → 409, a bad filter or
cursor → 400, ``DatabaseUnavailableError`` → 503. Web pages get HTML errors, the API JSON.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline import __version__
from pipeline.errors import ConflictError, DatabaseUnavailableError, NotFoundError
from pipeline.review import pages, routes
from pipeline.review.deps import SignInRequiredError
from pipeline.review.resources import ReviewConfig, open_resources
from pipeline.review.store import InvalidQueryError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.middleware.base import RequestResponseEndpoint
    from starlette.types import ASGIApp, Receive, Scope, Send

_STATUS: dict[type[Exception], int] = {
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ConflictError: status.HTTP_409_CONFLICT,
    InvalidQueryError: status.HTTP_400_BAD_REQUEST,
    DatabaseUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/healthz", "/openapi", "/docs"))


class DropEmptyQueryParams:
    """Web pages only: drop empty query parameters, as an HTML form sends every field.

    ``?kind=&min_score=`` from the queue's filter form means "no filter", not a bad value.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/api/"):
            pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            kept = [(k, v) for k, v in pairs if v != ""]
            scope = dict(scope, query_string=urlencode(kept).encode("latin-1"))
        await self.app(scope, receive, send)


def create_app(config: ReviewConfig) -> FastAPI:
    """The review app; its lifespan opens the database and the session signer."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(config) as resources:
            app.state.resources = resources
            try:
                yield
            finally:
                del app.state.resources

    app = FastAPI(
        title="modocr review",
        version=__version__,
        description="Query and decide on flagged items. Authenticate with "
        "`Authorization: Bearer <token>` (`modocr reviewers add NAME --role ...`).",
        lifespan=lifespan,
    )
    app.include_router(routes.health_router)
    app.include_router(routes.router)
    app.include_router(pages.router)

    async def pipeline_error(request: Request, exc: Exception) -> Response:
        code = next(c for t, c in _STATUS.items() if isinstance(exc, t))
        headers = {"Retry-After": "1"} if code == status.HTTP_503_SERVICE_UNAVAILABLE else None
        return await http_error(request, HTTPException(code, str(exc), headers=headers))

    for error_type in _STATUS:
        app.add_exception_handler(error_type, pipeline_error)

    async def sign_in(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequiredError)  # noqa: S101 - registered for this type
        target = f"/login?next={quote(exc.next_path)}"
        return RedirectResponse(target, status.HTTP_303_SEE_OTHER)

    app.add_exception_handler(SignInRequiredError, sign_in)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type
        if _is_api(request):
            return await http_exception_handler(request, exc)
        return pages.templates.TemplateResponse(
            request,
            "error.html",
            {"request": request, "user": None, "status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if not _is_api(request):
            response.headers.update(_SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(DropEmptyQueryParams)

    return app
