"""Dependencies of the review routes: resources, sessions, and who is asking (with what role).

The API authenticates ``Authorization: Bearer <token>``; the web UI a signed session cookie.
Every request looks the reviewer up again, so revoking a token takes effect at once.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.review import store
from pipeline.review.auth import SESSION_COOKIE, Principal, Role, Session
from pipeline.review.resources import Resources

bearer = HTTPBearer(auto_error=False, description="A reviewer token (`modocr reviewers add`).")


def get_resources(request: Request) -> Resources:
    """The resources the app's lifespan opened."""
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """A session for one request; handlers that write open ``session.begin()`` themselves."""
    async with resources.database.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def api_principal(
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The reviewer whose bearer token came with the request; 401 if none or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    async with resources.database.sessions() as session:
        reviewer = await store.reviewer_by_token(session, credentials.credentials)
    if reviewer is None:
        raise _unauthorized("unknown or revoked token")
    return Principal(reviewer.id, reviewer.name, reviewer.role)


def require_api(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting API callers with at least ``role`` (403 otherwise)."""

    async def check(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        if not principal.can(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role")
        return principal

    return check


ViewerDep = Annotated[Principal, Depends(require_api("viewer"))]
ReviewerDep = Annotated[Principal, Depends(require_api("reviewer"))]
AdminDep = Annotated[Principal, Depends(require_api("admin"))]


class SignInRequiredError(Exception):
    """The web UI needs a valid session: the handler redirects to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class UiUser:
    """The signed-in reviewer of a web UI request and their session's CSRF token."""

    principal: Principal
    session: Session
    csrf: str

    def can(self, role: Role) -> bool:
        return self.principal.can(role)


async def ui_user(request: Request, resources: ResourcesDep) -> UiUser:
    """The reviewer of the session cookie; redirect to sign-in if absent, forged or revoked."""
    session = resources.signer.verify(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequiredError(request.url.path)
    async with resources.database.sessions() as db:
        reviewer = await store.reviewer_by_id(db, session.reviewer_id)
    if reviewer is None:
        raise SignInRequiredError(request.url.path)
    principal = Principal(reviewer.id, reviewer.name, reviewer.role)
    return UiUser(principal, session, resources.signer.csrf_token(session))


def require_ui(role: Role) -> Callable[[UiUser], Awaitable[UiUser]]:
    """A dependency admitting signed-in reviewers with at least ``role`` (403 otherwise)."""

    async def check(user: Annotated[UiUser, Depends(ui_user)]) -> UiUser:
        if not user.can(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role")
        return user

    return check


UiViewerDep = Annotated[UiUser, Depends(require_ui("viewer"))]
UiReviewerDep = Annotated[UiUser, Depends(require_ui("reviewer"))]
UiAdminDep = Annotated[UiUser, Depends(require_ui("admin"))]
