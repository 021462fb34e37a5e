"""RateLimiter on a fake clock: buckets, penalties, headers, share."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from pipeline.mistral.ratelimit import RateLimiter
from pipeline.settings import QuotaSettings

if TYPE_CHECKING:
    from tests.unit.mistral.conftest import FakeClock


def _limiter(clock: FakeClock, **limits: float) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **limits)


async def test_unlimited_never_waits(clock: FakeClock) -> None:
    """Without quotas every acquire passes at once."""
    limiter = _limiter(clock)
    for _ in range(100):
        await limiter.acquire(tokens=10_000, pages=50)
    assert clock.sleeps == []


async def test_requests_per_second(clock: FakeClock) -> None:
    """2 req/s: a burst of two, then one every half second."""
    limiter = _limiter(clock, requests_per_s=2)
    for _ in range(4):
        await limiter.acquire()
    assert clock.sleeps == pytest.approx([0.5, 0.5])


async def test_tokens_per_minute(clock: FakeClock) -> None:
    """600 tokens/min is 10/s: after the minute's burst, 100 tokens wait 10 s."""
    limiter = _limiter(clock, tokens_per_min=600)
    await limiter.acquire(tokens=600)
    await limiter.acquire(tokens=100)
    assert sum(clock.sleeps) == pytest.approx(10.0)


async def test_oversized_request_waits_for_a_full_bucket(clock: FakeClock) -> None:
    """A request above the capacity passes on a full bucket and leaves a debt behind."""
    limiter = _limiter(clock, pages_per_min=60)
    await limiter.acquire(pages=120)
    assert clock.sleeps == []
    await limiter.acquire(pages=1)
    assert sum(clock.sleeps) == pytest.approx(61.0)


async def test_record_corrects_an_estimate(clock: FakeClock) -> None:
    """Usage learnt afterwards is charged; an over-estimate is given back."""
    limiter = _limiter(clock, tokens_per_min=600)
    await limiter.acquire(tokens=100)
    limiter.record(tokens=500)  # the response said 600
    await limiter.acquire(tokens=60)
    assert sum(clock.sleeps) == pytest.approx(6.0)
    limiter.record(tokens=-60)
    await limiter.acquire(tokens=60)
    assert sum(clock.sleeps) == pytest.approx(6.0)


async def test_penalize_blocks_every_acquire(clock: FakeClock) -> None:
    """After a 429 with Retry-After: 7 nobody sends for 7 s; without it, 1 s."""
    limiter = _limiter(clock)
    limiter.penalize(7.0)
    await limiter.acquire()
    assert clock.sleeps == [7.0]
    limiter.penalize(None)
    await limiter.acquire()
    assert clock.sleeps == [7.0, 1.0]
    limiter.penalize(0.0)
    await limiter.acquire()
    assert clock.sleeps == [7.0, 1.0]


async def test_concurrent_acquires_are_served_in_order(clock: FakeClock) -> None:
    """Waiters queue: three concurrent requests at 1 req/s finish 1 s apart."""
    limiter = _limiter(clock, requests_per_s=1)
    finished: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        finished.append(clock.now)

    async with asyncio.TaskGroup() as tg:
        for _ in range(3):
            tg.create_task(one())
    assert [t - finished[0] for t in finished] == pytest.approx([0.0, 1.0, 2.0])


async def test_share_scales_every_limit(clock: FakeClock) -> None:
    """With share 0.5, 600 tokens/min becomes 300: the second 300 waits 60 s."""
    limiter = _limiter(clock, tokens_per_min=600)
    limiter.share = 0.5
    await limiter.acquire(tokens=300)
    await limiter.acquire(tokens=300)
    assert sum(clock.sleeps) == pytest.approx(60.0)
    assert limiter.share == 0.5


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_share_must_be_a_fraction(clock: FakeClock, share: float) -> None:
    """share is in (0, 1]."""
    limiter = _limiter(clock)
    with pytest.raises(ValueError, match="share"):
        limiter.share = share


async def test_remaining_header_lowers_the_bucket(clock: FakeClock) -> None:
    """The server's remaining tokens cap what this replica may still send this minute."""
    limiter = _limiter(clock, tokens_per_min=600)
    limiter.observe_headers(
        {"X-RateLimit-Limit-Tokens-Minute": "600", "X-RateLimit-Remaining-Tokens-Minute": "100"}
    )
    assert limiter.last_headers["x-ratelimit-remaining-tokens-minute"] == "100"
    await limiter.acquire(tokens=100)
    assert clock.sleeps == []
    await limiter.acquire(tokens=50)
    assert sum(clock.sleeps) == pytest.approx(5.0)


async def test_limit_header_teaches_an_unconfigured_limit(clock: FakeClock) -> None:
    """No requests quota configured: the server's req/min limit and remaining count apply."""
    limiter = _limiter(clock)
    limiter.observe_headers(
        {"x-ratelimit-limit-req-minute": "60", "x-ratelimit-remaining-req-minute": "0"}
    )
    await limiter.acquire()
    assert sum(clock.sleeps) == pytest.approx(1.0)


async def test_nothing_remaining_with_a_reset_blocks_until_then(clock: FakeClock) -> None:
    """The 2024-era ``ratelimitbysize-*`` headers: 0 remaining, reset in 12 s."""
    limiter = _limiter(clock)
    limiter.observe_headers({"ratelimitbysize-remaining": "0", "ratelimitbysize-reset": "12"})
    await limiter.acquire()
    assert clock.sleeps == [12.0]


def test_unrelated_or_garbled_headers_are_ignored(clock: FakeClock) -> None:
    """Headers without rate limits, or with unreadable numbers, change nothing."""
    limiter = _limiter(clock)
    limiter.observe_headers({"content-type": "application/json"})
    limiter.observe_headers(
        {"x-ratelimit-remaining-tokens-minute": "lots", "x-ratelimit-limit-tokens-minute": "inf"}
    )
    assert repr(limiter) == "RateLimiter(unlimited, share=1)"


def test_from_quota_settings(clock: FakeClock) -> None:
    """The settings' quota becomes the limiter's buckets."""
    quota = QuotaSettings(requests_per_s=5, tokens_per_min=60_000, pages_per_min=120)
    limiter = RateLimiter.from_quota(quota, share=0.25, clock=clock, sleep=clock.sleep)
    assert repr(limiter) == "RateLimiter(requests=5/s, tokens=1000/s, pages=2/s, share=0.25)"
