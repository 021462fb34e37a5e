"""Client-side rate limiting of Mistral calls: requests/s, tokens/min, pages/min.

Token buckets with an injectable ``clock`` and ``sleep`` (tests never really wait), adapting
to 429s (``penalize``) and to the ``x-ratelimit-*`` headers (``observe_headers``). ``share``
is this replica's part (0-1] of the organisation's quota.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.settings import QuotaSettings

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_PENALTY_S = 1.0
"""How long a 429 without ``Retry-After`` blocks every acquire."""

# Header names seen in the wild (reference §7.3), lower case; the first present wins.
TOKENS_REMAINING = (
    "x-ratelimit-remaining-tokens-minute",
    "x-ratelimitbysize-remaining-minute",
    "ratelimitbysize-remaining",
)
TOKENS_LIMIT = (
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimitbysize-limit-minute",
    "ratelimitbysize-limit",
)
REQUESTS_REMAINING = ("x-ratelimit-remaining-req-minute", "x-ratelimit-remaining-requests-minute")
REQUESTS_LIMIT = ("x-ratelimit-limit-req-minute", "x-ratelimit-limit-requests-minute")
PAGES_REMAINING = ("x-ratelimit-remaining-pages-minute",)
PAGES_LIMIT = ("x-ratelimit-limit-pages-minute",)
RESET = ("ratelimitbysize-reset", "x-ratelimit-reset")


@dataclass
class _Bucket:
    """A token bucket at full share: ``rate`` units/s, at most ``capacity`` in reserve."""

    rate: float
    capacity: float
    level: float
    updated: float
    learned: bool = False
    """Created from the server's limit headers rather than from settings."""

    def refill(self, now: float, share: float) -> None:
        elapsed = max(now - self.updated, 0.0)
        self.level = min(self.level + elapsed * self.rate * share, self.capacity * share)
        self.updated = now

    def wait_for(self, amount: float, share: float) -> float:
        """Seconds until *amount* may be taken (an amount above capacity needs a full bucket)."""
        need = min(amount, self.capacity * share)
        if self.level >= need - 1e-9:  # float residue must not cause a spin of tiny waits
            return 0.0
        return (need - self.level) / (self.rate * share)


class RateLimiter:
    """Waits before each request so the organisation's quota is not exceeded.

    Args:
        requests_per_s: request rate; ``None`` is unlimited. Burst: one second's worth.
        tokens_per_min: moderation tokens per minute; burst: one minute's worth.
        pages_per_min: OCR pages per minute; burst: one minute's worth.
        share: this replica's fraction (0-1] of the quota; settable at runtime.
        burst_s: bucket depth in seconds of each rate (at least one unit); ``None``: the
            bursts above. Against a server's sliding windows a short depth avoids 429s.
        clock: monotonic seconds (default ``time.monotonic``).
        sleep: the coroutine that waits (default ``asyncio.sleep``).
    """

    def __init__(
        self,
        *,
        requests_per_s: float | None = None,
        tokens_per_min: float | None = None,
        pages_per_min: float | None = None,
        share: float = 1.0,
        burst_s: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._share = _checked_share(share)
        self._lock = asyncio.Lock()
        self._blocked_until = -math.inf
        now = clock()
        self._buckets: dict[str, _Bucket] = {}
        if requests_per_s is not None:
            burst = max(requests_per_s * (burst_s or 1.0), 1.0)
            self._buckets["requests"] = _Bucket(requests_per_s, burst, burst, now)
        if tokens_per_min is not None:
            depth = max(tokens_per_min / 60 * burst_s, 1.0) if burst_s else tokens_per_min
            self._buckets["tokens"] = _Bucket(tokens_per_min / 60, depth, depth, now)
        if pages_per_min is not None:
            depth = max(pages_per_min / 60 * burst_s, 1.0) if burst_s else pages_per_min
            self._buckets["pages"] = _Bucket(pages_per_min / 60, depth, depth, now)
        self.last_headers: dict[str, str] = {}
        """The rate-limit headers of the last response observed."""

    @classmethod
    def from_quota(
        cls,
        quota: QuotaSettings,
        *,
        share: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> RateLimiter:
        """A limiter configured from ``MistralSettings.quota``."""
        return cls(
            requests_per_s=quota.requests_per_s,
            tokens_per_min=quota.tokens_per_min,
            pages_per_min=quota.pages_per_min,
            share=share,
            burst_s=quota.burst_s,
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        limits = ", ".join(f"{name}={b.rate:g}/s" for name, b in self._buckets.items())
        return f"RateLimiter({limits or 'unlimited'}, share={self._share:g})"

    @property
    def share(self) -> float:
        """This replica's fraction (0-1] of the organisation's quota."""
        return self._share

    @share.setter
    def share(self, value: float) -> None:
        now = self._clock()
        for bucket in self._buckets.values():
            bucket.refill(now, self._share)
        self._share = _checked_share(value)
        for bucket in self._buckets.values():
            bucket.level = min(bucket.level, bucket.capacity * self._share)

    async def acquire(self, *, tokens: int = 0, pages: int = 0) -> None:
        """Wait until one request of *tokens* tokens and *pages* pages fits, then take it.

        Waiters are served in arrival order. Estimates are fine: correct them afterwards
        with ``record()`` once the response tells the real usage.
        """
        wanted = {"requests": 1.0, "requests_minute": 1.0, "tokens": tokens, "pages": pages}
        async with self._lock:
            while (wait := self._wait_for(wanted)) > 0:
                await self._sleep(wait)
            for name, bucket in self._buckets.items():
                bucket.level -= wanted.get(name, 0.0)

    def record(self, *, tokens: int = 0, pages: int = 0) -> None:
        """Charge usage learnt after the fact (negative gives back an over-estimate)."""
        now = self._clock()
        for name, amount in (("tokens", tokens), ("pages", pages)):
            if (bucket := self._buckets.get(name)) is not None and amount:
                bucket.refill(now, self._share)
                bucket.level = min(bucket.level - amount, bucket.capacity * self._share)

    def penalize(self, retry_after: float | None) -> None:
        """After a 429: block every acquire for *retry_after* seconds (default 1 s)."""
        wait = DEFAULT_PENALTY_S if retry_after is None else max(retry_after, 0.0)
        self._blocked_until = max(self._blocked_until, self._clock() + wait)
        logger.info("mistral rate limited: acquires blocked for %.2f s", wait)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Adapt to the server's ``x-ratelimit-*`` headers (names of reference §7.3).

        A limit header for a dimension with no configured quota creates one; a remaining
        count lowers the bucket to this replica's share of it; nothing remaining, with a
        known reset, blocks until then.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        seen = {k: v for k, v in lowered.items() if "ratelimit" in k}
        if not seen:
            return
        self.last_headers = seen
        now = self._clock()
        reset = _first_number(lowered, RESET)
        for name, remaining_keys, limit_keys in (
            ("tokens", TOKENS_REMAINING, TOKENS_LIMIT),
            ("requests_minute", REQUESTS_REMAINING, REQUESTS_LIMIT),
            ("pages", PAGES_REMAINING, PAGES_LIMIT),
        ):
            limit = _first_number(lowered, limit_keys)
            if limit is not None and limit > 0:
                self._learn(name, limit, now)
            remaining = _first_number(lowered, remaining_keys)
            if remaining is None:
                continue
            if (bucket := self._buckets.get(name)) is not None:
                bucket.refill(now, self._share)
                bucket.level = min(bucket.level, max(remaining, 0.0) * self._share)
            if remaining <= 0 and reset is not None:
                self.penalize(reset)

    def _learn(self, name: str, per_minute: float, now: float) -> None:
        bucket = self._buckets.get(name)
        if bucket is None:
            self._buckets[name] = _Bucket(
                per_minute / 60, per_minute, per_minute, now, learned=True
            )
        elif bucket.learned:
            bucket.refill(now, self._share)
            bucket.rate, bucket.capacity = per_minute / 60, per_minute

    def _wait_for(self, wanted: Mapping[str, float]) -> float:
        now = self._clock()
        if (blocked := self._blocked_until - now) > 0:
            return blocked
        wait = 0.0
        for name, bucket in self._buckets.items():
            bucket.refill(now, self._share)
            wait = max(wait, bucket.wait_for(wanted.get(name, 0.0), self._share))
        return wait


def _checked_share(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError(f"share must be in (0, 1], not {value!r}")
    return float(value)


def _first_number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        if (raw := headers.get(name)) is not None:
            try:
                value = float(raw.strip())
            except ValueError:
                continue
            if math.isfinite(value):
                return value
    return None
