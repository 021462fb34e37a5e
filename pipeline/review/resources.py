"""What the review app needs (``ReviewConfig``) and what its lifespan opens (``Resources``)."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.db.engine import Database, open_database
from pipeline.retention import Retention
from pipeline.review.auth import SessionSigner

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pipeline.settings import Settings


@dataclass(frozen=True)
class ReviewConfig:
    """The review app's configuration, taken from ``Settings`` by the CLI.

    ``session_key`` signs session cookies; None generates 32 random bytes at start (sessions
    then end when the server restarts). ``secure_cookies`` adds ``Secure`` (behind https).
    """

    database_url: str
    retention: Retention
    decisions_topic: str = "modocr.decisions"
    secure_cookies: bool = False
    session_key: bytes | None = None
    session_max_age_s: float = 12 * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewConfig:
        return cls(
            database_url=settings.database_url.get_secret_value(),
            retention=Retention.from_settings(settings),
            decisions_topic=settings.topics.decisions,
            secure_cookies=settings.review.secure_cookies,
        )


@dataclass(frozen=True)
class Resources:
    """What the app's lifespan opened: the database, the cookie signer, the config."""

    config: ReviewConfig
    database: Database
    signer: SessionSigner

    @property
    def retention(self) -> Retention:
        return self.config.retention


@asynccontextmanager
async def open_resources(config: ReviewConfig) -> AsyncIterator[Resources]:
    """Open the database and the signer; close the database on exit."""
    key = config.session_key or secrets.token_bytes(32)
    signer = SessionSigner(key, max_age_s=config.session_max_age_s)
    async with open_database(config.database_url) as database:
        yield Resources(config, database, signer)
