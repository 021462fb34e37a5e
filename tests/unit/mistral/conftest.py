"""Fixtures of the Mistral client unit tests: settings, a fake clock, MockTransport clients."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from pipeline.mistral.client import MistralClient
from pipeline.mistral.ratelimit import RateLimiter
from pipeline.settings import MistralSettings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mistral"
API_KEY = "sk-unit-CANARY-7f3b9c2e1d"
BASE_URL = "https://mistral.test"

Opener = Callable[["Recorder"], contextlib.AbstractAsyncContextManager[MistralClient]]


@dataclass
class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Recorder:
    """Answers requests from a queue of responses (the last one repeats) and keeps them."""

    responses: list[httpx.Response | Exception]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def fixture_json(*parts: str) -> Any:
    return json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))


def ok(body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


MODERATION_OK = {
    "id": "203503b5360d41dfb978108b9f785ac8",
    "usage": {"prompt_tokens": 10, "total_tokens": 99, "completion_tokens": 0, "request_count": 1},
    "model": "mistral-moderation-2603",
    "results": [{"category_scores": {"pii": 0.01}, "categories": {"pii": False}}],
}


@pytest.fixture
def settings() -> MistralSettings:
    return MistralSettings(base_url=BASE_URL, api_key=SecretStr(API_KEY))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep)


@pytest.fixture
def open_client(settings: MistralSettings, limiter: RateLimiter) -> Opener:
    """Opens a client whose transport is *recorder*, rate-limited on the fake clock."""

    @contextlib.asynccontextmanager
    async def opener(recorder: Recorder) -> AsyncIterator[MistralClient]:
        transport = httpx.MockTransport(recorder)
        async with MistralClient.open(settings, transport=transport, limiter=limiter) as client:
            yield client

    return opener
