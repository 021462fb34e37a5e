"""Fault knobs of the local API: latency, rate limits (429), 5xx, hangs, malformed bodies.

``Faults`` is a plain mutable dataclass: set it at start (``Faults.from_json``/``from_env``)
and change it at runtime from tests. ``RateWindows`` keeps the sliding windows behind the 429s on
an injectable clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

FAULTS_ENV = "MODOCR_LOCALAPI__FAULTS"
"""Environment variable read by ``Faults.from_env``: a JSON object of ``Faults`` fields."""

SERVER_ERROR_STATUSES = (500, 502, 503, 504)
MINUTE_S = 60.0


@dataclass
class FailSpec:
    """Fail the next ``count`` requests (of ``path``, or any path) with ``status``.

    A 429 carries ``Retry-After: retry_after`` when given; other statuses ignore it.
    """

    status: int
    count: int = 1
    retry_after: int | None = None
    path: str | None = None


@dataclass
class Faults:
    """What the local API does wrong, and how slowly.

    Latency per request is ``latency_ms + uniform(0, jitter_ms) + per_page_ms * pages`` (pages only
    for OCR). ``*_rate`` fields are probabilities per request in [0, 1], drawn from ``rng`` (seeded
    with ``seed``) so runs are reproducible. ``None`` limits are unlimited.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    per_page_ms: float = 0.0
    requests_per_s: float | None = None
    tokens_per_min: int | None = None
    pages_per_min: int | None = None
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 3600.0
    malformed_rate: float = 0.0
    rate_limit_rate: float = 0.0
    rate_limit_retry_after_s: int = 1
    seed: int = 0
    fail_next: list[FailSpec] = field(default_factory=list)
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("error_rate", "hang_rate", "malformed_rate", "rate_limit_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value!r}")
        for name in ("latency_ms", "jitter_ms", "per_page_ms", "hang_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("requests_per_s", "tokens_per_min", "pages_per_min"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or null")
        self.rng = random.Random(self.seed)  # noqa: S311 - fault injection, not cryptography

    @classmethod
    def from_json(cls, text: str) -> Faults:
        """Build from a JSON object of field names, e.g. ``{"latency_ms": 150, "error_rate": 0.1}``.

        ``fail_next`` is a list of ``{"status": 503, "count": 2}`` objects.

        Raises:
            ValueError: invalid JSON, not an object, an unknown key, a value of the wrong type
                or out of range.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")  # noqa: TRY004 - one error type for config
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a mapping of field names (see ``from_json``)."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault knobs: {', '.join(unknown)}")
        values = dict(data)
        try:
            values["fail_next"] = [FailSpec(**spec) for spec in values.get("fail_next", [])]
            return cls(**values)
        except TypeError as exc:  # a knob of the wrong type, or a bad fail_next entry
            raise ValueError(f"invalid fault knobs: {exc}") from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Faults:
        """Read ``MODOCR_LOCALAPI__FAULTS``; no faults when unset or empty."""
        env = os.environ if environ is None else environ
        text = env.get(FAULTS_ENV, "").strip()
        return cls.from_json(text) if text else cls()

    def reseed(self, seed: int) -> None:
        """Restart the random stream from ``seed``."""
        self.seed = seed
        self.rng.seed(seed)

    def fail_next_requests(
        self,
        count: int,
        status: int,
        *,
        retry_after: int | None = None,
        path: str | None = None,
    ) -> None:
        """Fail the next ``count`` requests with ``status`` (e.g. 503 twice, then success)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        self.fail_next.append(
            FailSpec(status=status, count=count, retry_after=retry_after, path=path)
        )

    def take_scheduled_failure(self, path: str) -> FailSpec | None:
        """Consume one scheduled failure that applies to ``path``, if any."""
        for spec in self.fail_next:
            if spec.path is None or spec.path == path:
                spec.count -= 1
                if spec.count <= 0:
                    self.fail_next.remove(spec)
                return FailSpec(
                    status=spec.status, count=1, retry_after=spec.retry_after, path=spec.path
                )
        return None

    def roll_server_error(self) -> int | None:
        """A random 500/502/503/504 with probability ``error_rate``, else ``None``."""
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            return self.rng.choice(SERVER_ERROR_STATUSES)
        return None

    def roll_rate_limit(self) -> int | None:
        """With probability ``rate_limit_rate``: the ``Retry-After`` (s) of a random 429."""
        if self.rate_limit_rate > 0 and self.rng.random() < self.rate_limit_rate:
            return max(1, self.rate_limit_retry_after_s)
        return None

    def roll_hang(self) -> bool:
        """True with probability ``hang_rate``: the request then sleeps ``hang_s``."""
        return self.hang_rate > 0 and self.rng.random() < self.hang_rate

    def roll_malformed(self) -> bool:
        """True with probability ``malformed_rate``: a 200 with truncated JSON."""
        return self.malformed_rate > 0 and self.rng.random() < self.malformed_rate

    def latency_s(self, pages: int = 0) -> float:
        """Seconds to wait before answering: fixed + uniform jitter + per page."""
        jitter = self.rng.uniform(0.0, self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return (self.latency_ms + jitter + self.per_page_ms * pages) / 1000.0


@dataclass(frozen=True)
class RateDecision:
    """The outcome of a rate-limit check; ``retry_after`` is whole seconds (>= 1) when refused."""

    allowed: bool
    retry_after: int | None = None
    limit: str | None = None


_ALLOWED = RateDecision(allowed=True)


class _Window:
    """A sliding window of (time, cost) entries."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.entries: deque[tuple[float, int]] = deque()

    def prune(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - self.period_s:
            self.entries.popleft()

    def used(self, now: float, period_s: float | None = None) -> int:
        since = now - (self.period_s if period_s is None else period_s)
        return sum(cost for at, cost in self.entries if at > since)

    def retry_after(self, now: float, limit: int, cost: int, period_s: float | None = None) -> int:
        """Seconds until ``cost`` more fits under ``limit`` (ceil, at least 1)."""
        period = self.period_s if period_s is None else period_s
        since = now - period
        live = [(at, c) for at, c in self.entries if at > since]
        used = sum(c for _, c in live)
        free_at = now + period
        for at, c in live:
            used -= c
            if used + cost <= limit:
                free_at = at + period
                break
        return max(1, math.ceil(free_at - now))


class RateWindows:
    """Requests/s, tokens/min and pages/min windows of the local API, on an injectable clock.

    A request over a limit is refused whole; ``Retry-After`` is when enough of the window frees.
    A request that alone exceeds a per-minute limit is charged as exactly the limit, so it waits
    for an empty window instead of being refused forever.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._requests = _Window(MINUTE_S)
        self._tokens = _Window(MINUTE_S)
        self._pages = _Window(MINUTE_S)

    def reset(self) -> None:
        """Forget every past request (tests changing limits mid-run)."""
        for window in (self._requests, self._tokens, self._pages):
            window.entries.clear()

    @staticmethod
    def _request_window(requests_per_s: float) -> tuple[float, int]:
        # 0.5 req/s is one request per 2 s; 5 req/s is five per second.
        period = max(1.0, 1.0 / requests_per_s)
        return period, max(1, math.floor(requests_per_s * period))

    def admit_request(self, faults: Faults) -> RateDecision:
        """Count one request against ``requests_per_s``; refuse it if the window is full."""
        now = self.clock()
        self._requests.prune(now)
        if faults.requests_per_s is not None:
            period, limit = self._request_window(faults.requests_per_s)
            if self._requests.used(now, period) + 1 > limit:
                wait = self._requests.retry_after(now, limit, 1, period)
                return RateDecision(allowed=False, retry_after=wait, limit="requests")
        self._requests.entries.append((now, 1))
        return _ALLOWED

    def admit_tokens(self, faults: Faults, tokens: int) -> RateDecision:
        """Charge ``tokens`` against ``tokens_per_min``; refuse (uncharged) if they do not fit."""
        return self._admit(self._tokens, faults.tokens_per_min, tokens, "tokens", charge=True)

    def check_pages(self, faults: Faults, pages: int) -> RateDecision:
        """Whether ``pages`` more fit under ``pages_per_min``; nothing is charged."""
        return self._admit(self._pages, faults.pages_per_min, pages, "pages", charge=False)

    def charge_pages(self, faults: Faults, pages: int) -> None:
        """Charge the pages actually processed (known only after reading the document)."""
        limit = faults.pages_per_min
        cost = pages if limit is None else min(pages, limit)
        if cost > 0:
            self._pages.entries.append((self.clock(), cost))

    def _admit(
        self, window: _Window, limit: int | None, cost: int, name: str, *, charge: bool
    ) -> RateDecision:
        now = self.clock()
        window.prune(now)
        if limit is not None:
            cost = min(cost, limit)
            if window.used(now) + cost > limit:
                return RateDecision(
                    allowed=False, retry_after=window.retry_after(now, limit, cost), limit=name
                )
        if charge and cost > 0:
            window.entries.append((now, cost))
        return _ALLOWED

    def headers(self, faults: Faults) -> dict[str, str]:
        """``x-ratelimit-*`` headers of the configured limits (remaining never below 0)."""
        now = self.clock()
        out: dict[str, str] = {}
        if faults.requests_per_s is not None:
            per_minute = max(1, math.floor(faults.requests_per_s * MINUTE_S))
            remaining = max(0, per_minute - self._requests.used(now))
            out["x-ratelimit-limit-req-minute"] = str(per_minute)
            out["x-ratelimit-remaining-req-minute"] = str(remaining)
        if faults.tokens_per_min is not None:
            remaining = max(0, faults.tokens_per_min - self._tokens.used(now))
            out["x-ratelimit-limit-tokens-minute"] = str(faults.tokens_per_min)
            out["x-ratelimit-remaining-tokens-minute"] = str(remaining)
        return out
