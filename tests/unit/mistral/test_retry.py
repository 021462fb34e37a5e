"""The stamina policy: transient errors only, Retry-After honoured and capped."""

from __future__ import annotations

import email.utils
from typing import TYPE_CHECKING

import httpx
import pytest
import stamina

from pipeline.errors import (
    DatabaseUnavailableError,
    InvalidMessageError,
    MistralRejectedError,
    MistralUnavailableError,
    RateLimitedError,
)
from pipeline.mistral.client import MistralClient
from pipeline.mistral.retry import make_backoff, make_retrying, parse_retry_after
from pipeline.settings import MistralSettings
from tests.unit.mistral.conftest import MODERATION_OK, FakeClock, Opener, Recorder, ok

if TYPE_CHECKING:
    from pipeline.mistral.ratelimit import RateLimiter


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RateLimitedError("429", retry_after=7.0), 7.0),
        (RateLimitedError("429", retry_after=3600.0), 30.0),
        (RateLimitedError("429", retry_after=-5.0), 0.0),
        (RateLimitedError("429"), True),
        (MistralUnavailableError("503", status_code=503), True),
        (MistralUnavailableError("timeout"), True),
        (MistralRejectedError("401", status_code=401), False),
        (InvalidMessageError("bad"), False),
        (DatabaseUnavailableError("not ours"), False),
        (ValueError("a bug"), False),
        (httpx.ReadTimeout("untranslated"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else repr(v),
)
def test_backoff_hook(exc: Exception, expected: bool | float) -> None:
    """Retry-After is the next wait (capped); other transient errors back off; the rest raise."""
    result = make_backoff(retry_after_cap_s=30.0)(exc)
    assert type(result) is type(expected)
    assert result == expected


def test_retrying_caller_is_bounded_by_settings() -> None:
    """Attempts and total time come from the settings at open time."""
    caller = make_retrying(MistralSettings(retry_attempts=4, retry_timeout_s=12.5))
    assert "attempts=4" in repr(caller)
    assert "timeout=12.5" in repr(caller)


async def test_retry_after_wait_is_honoured_before_the_next_attempt(
    open_client: Opener, clock: FakeClock
) -> None:
    """A 429 with Retry-After: 7 blocks the next attempt for 7 s (limiter on a fake clock)."""
    limited = httpx.Response(
        429, headers={"Retry-After": "7"}, json={"message": "Rate limit exceeded"}
    )
    recorder = Recorder([limited, ok(MODERATION_OK)])
    async with open_client(recorder) as client:
        await client.moderate("hello")
    assert len(recorder.requests) == 2
    assert clock.sleeps == [7.0]


async def test_retry_after_is_capped_by_settings(open_client: Opener, clock: FakeClock) -> None:
    """A huge Retry-After waits at most ``retry_after_cap_s`` (60 s by default)."""
    limited = httpx.Response(429, headers={"Retry-After": "86400"}, json={"message": "slow down"})
    recorder = Recorder([limited, ok(MODERATION_OK)])
    async with open_client(recorder) as client:
        await client.moderate("hello")
    assert clock.sleeps == [60.0]


async def test_retries_stop_at_the_attempt_bound(
    settings: MistralSettings, limiter: RateLimiter
) -> None:
    """``retry_attempts`` bounds the attempts (test mode capped above it, so the setting rules)."""
    bounded = settings.model_copy(update={"retry_attempts": 2})
    recorder = Recorder([httpx.Response(503)])
    with stamina.set_testing(True, attempts=10, cap=True):
        async with MistralClient.open(
            bounded, transport=httpx.MockTransport(recorder), limiter=limiter
        ) as client:
            with pytest.raises(MistralUnavailableError):
                await client.list_models()
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delta-seconds or an HTTP-date; unreadable is None; the past is 0."""
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future() -> None:
    """An HTTP-date 90 s ahead of *now* is a 90 s wait."""
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == 90.0
