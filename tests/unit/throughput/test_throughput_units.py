"""Pure pieces of the throughput work: dedupe keys, usage split and cost, budget windows,
the replica share, the limiter's bucket depth and the free-tier default."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline.dedupe import RecentKeys, normalise, text_key
from pipeline.mistral.ratelimit import RateLimiter
from pipeline.quota import MIN_SHARE, ReplicaShare, share_of
from pipeline.settings import (
    FREE_TIER_REQUESTS_PER_S,
    FREE_TIER_TOKENS_PER_MIN,
    MistralSettings,
    ModelPrice,
    QuotaSettings,
    UsageSettings,
)
from pipeline.usage import Usage, budget_of, cost_of, price_of, seconds_to_next_day, split_usage


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_normalised_texts_share_a_key() -> None:
    """Whitespace runs and compatibility forms do not change the key; case and model do."""
    base = text_key("hello world", "m", "p")
    assert text_key("  hello \n\t world ", "m", "p") == base
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "hello")  # NFKC folds them
    assert text_key(f"{fullwidth} world", "m", "p") == base
    assert text_key("Hello world", "m", "p") != base
    assert text_key("hello world", "other", "p") != base
    assert text_key("hello world", "m", "p2") != base
    assert normalise(" a  b ") == "a b"


def test_recent_keys_expire_and_stay_bounded() -> None:
    """Entries expire after the window; the oldest go first past the size bound."""
    clock = FakeClock()
    recent = RecentKeys(2, 10.0, clock)
    recent.put(b"a", 1)
    recent.put(b"b", 2)
    assert recent.get(b"a") == 1
    recent.put(b"c", 3)  # b is now the least recently used
    assert recent.get(b"b") is None
    assert len(recent) == 2
    clock.now = 11.0
    assert recent.get(b"a") is None


def test_usage_split_keeps_totals() -> None:
    """Tokens split by weight sum to the total; the request counts once, for the largest."""
    parts = split_usage("m", {"a": 3, "b": 1, "c": 1}, tokens=101)
    assert sum(p.tokens for p in parts) == 101
    assert sum(p.requests for p in parts) == 1
    assert next(p for p in parts if p.requests).tenant == "a"


def test_price_by_longest_prefix_and_cost() -> None:
    """A dated model id takes the longest matching key; cost is tokens and pages at list price."""
    prices = UsageSettings().prices
    assert price_of("mistral-ocr-2512", prices) == ModelPrice(per_thousand_pages=2.0)
    assert price_of("mistral-ocr-4-1", prices) == ModelPrice(per_thousand_pages=4.0)
    assert price_of("unknown", prices) is None
    assert cost_of(Usage("t", "mistral-ocr-4-0", pages=500), prices) == pytest.approx(2.0)
    assert cost_of(Usage("t", "mistral-moderation-2603", tokens=10**6), prices) == 0.0
    assert cost_of(Usage("t", "mistral-moderation-2411", tokens=10**6), prices) == pytest.approx(
        0.1
    )


def test_budget_window_is_the_utc_day() -> None:
    """The budget resets at midnight UTC; tenants without one fall back to the default."""
    now = datetime(2026, 11, 27, 23, 59, 0, tzinfo=UTC)
    assert seconds_to_next_day(now) == 60.0
    settings = UsageSettings(daily_budget_usd={"a": 1.0}, default_daily_budget_usd=5.0)
    assert budget_of("a", settings) == 1.0
    assert budget_of("b", settings) == 5.0
    assert budget_of("b", UsageSettings()) is None
    assert now.date() == date(2026, 11, 27)


def test_share_follows_partitions() -> None:
    """share = headroom x held / total, summed over the process's consumers; none → MIN_SHARE."""
    limiter = RateLimiter(requests_per_s=6)
    share = ReplicaShare(limiter, headroom=0.9)
    assert share.update("moderation", 2, 6) == pytest.approx(0.3)
    assert limiter.share == pytest.approx(0.3)
    assert share.update("ocr", 6, 6) == pytest.approx(0.9 * 8 / 12)
    assert share.update("moderation", 0, 6) == pytest.approx(0.9 * 6 / 12)
    assert share_of(0, 6) == MIN_SHARE
    assert share_of(3, 0) == MIN_SHARE


async def test_bucket_depth_paces_requests() -> None:
    """With burst_s=0.2 a 5 req/s limiter lets one request through, then one every 0.2 s."""
    clock = FakeClock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(requests_per_s=5, burst_s=0.2, clock=clock, sleep=sleep)
    for _ in range(4):
        await limiter.acquire()
    assert waits == pytest.approx([0.2, 0.2, 0.2])


def test_free_tier_applies_to_the_cloud_api_only() -> None:
    """Unset limits become the free tier against api.mistral.ai; the local API stays unlimited."""
    cloud = MistralSettings(api_key="k").effective_quota()
    assert cloud.requests_per_s == FREE_TIER_REQUESTS_PER_S
    assert cloud.tokens_per_min == FREE_TIER_TOKENS_PER_MIN
    local = MistralSettings().effective_quota()
    assert local.requests_per_s is None
    assert local.tokens_per_min is None
    custom = MistralSettings(api_key="k", quota=QuotaSettings(requests_per_s=20))
    assert custom.effective_quota().requests_per_s == 20
