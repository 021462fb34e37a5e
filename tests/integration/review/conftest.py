"""Fixtures of the review tests: the app (lifespan entered) on each backend, an HTTP client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from pipeline.retention import Retention
from pipeline.review.app import create_app
from pipeline.review.resources import ReviewConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

DECISIONS_TOPIC = "modocr.decisions.test"
SESSION_KEY = b"k" * 32


def config_for(db_url: str, *, zdr: bool = False) -> ReviewConfig:
    return ReviewConfig(
        database_url=db_url,
        retention=Retention(zdr=zdr, retention_days=30),
        decisions_topic=DECISIONS_TOPIC,
        session_key=SESSION_KEY,
    )


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    """The review app with its lifespan entered (ASGITransport does not run lifespans)."""
    application = create_app(config_for(db_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
