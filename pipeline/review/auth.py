"""Reviewer tokens, signed session cookies and CSRF tokens of the review UI and API.

A token is shown once; only its SHA-256 is stored. The web UI trades a token for a session
cookie signed with HMAC-SHA256 (no server-side session table); the reviewer is looked up again
on every request, so a revoked token ends its sessions at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

Role = Literal["viewer", "reviewer", "admin"]
ROLE_RANK: Final[dict[str, int]] = {"viewer": 0, "reviewer": 1, "admin": 2}

SESSION_COOKIE: Final = "modocr_session"
LOGIN_CSRF_COOKIE: Final = "modocr_login_csrf"


def new_token() -> str:
    """A fresh reviewer token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: lowercase hex SHA-256 (tokens are high-entropy: no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


def has_role(role: str, needed: Role) -> bool:
    """Whether ``role`` includes ``needed`` (viewer < reviewer < admin)."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated reviewer of a request."""

    id: int
    name: str
    role: str

    def can(self, needed: Role) -> bool:
        return has_role(self.role, needed)


@dataclass(frozen=True, slots=True)
class Session:
    """What a valid session cookie says: who, when it was issued, its CSRF nonce."""

    reviewer_id: int
    issued_at: float
    nonce: str


class SessionSigner:
    """Signs and verifies session cookies and derives their CSRF tokens (HMAC-SHA256).

    Args:
        key: the HMAC key (32 random bytes are generated at start when none is configured,
            so sessions end when the server restarts).
        max_age_s: a session older than this is refused (seconds).
        clock: seconds since the epoch; injectable for tests.
    """

    def __init__(
        self, key: bytes, *, max_age_s: float = 12 * 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 16:  # noqa: PLR2004 - HMAC keys shorter than 128 bits are guessable
            raise ValueError("the session key must be at least 16 bytes")
        self._key = key
        self.max_age_s = max_age_s
        self._time = clock

    def _mac(self, purpose: str, payload: str) -> str:
        message = f"{purpose}|{payload}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def issue(self, reviewer_id: int) -> str:
        """A cookie value for a new session of ``reviewer_id``."""
        # Whole seconds, rounded down: a rounded-up time would be "in the future" and refused.
        body = {"r": reviewer_id, "t": int(self._time()), "n": secrets.token_urlsafe(16)}
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac('session', payload)}"

    def verify(self, value: str | None) -> Session | None:
        """The session a cookie value stands for, or None if forged, malformed or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            body = json.loads(raw)
            session = Session(int(body["r"]), float(body["t"]), str(body["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not 0 <= self._time() - session.issued_at <= self.max_age_s:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The CSRF token every form of this session must send back."""
        return self._mac("csrf", f"{session.reviewer_id}|{session.nonce}")

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token(session))
