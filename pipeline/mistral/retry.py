"""The retry policy of Mistral calls: stamina, transient errors only, honouring ``Retry-After``.

Retries happen in this one layer, around one idempotent HTTP call; nothing above retries again.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import stamina

from pipeline.errors import MistralUnavailableError, RateLimitedError

if TYPE_CHECKING:
    from pipeline.settings import MistralSettings

BackoffHook = Callable[[Exception], bool | float]

WAIT_INITIAL_S = 0.2
WAIT_MAX_S = 10.0
"""Exponential schedule between attempts when the server gives no ``Retry-After``."""


def make_backoff(retry_after_cap_s: float) -> BackoffHook:
    """A stamina ``on=`` hook: retry transient Mistral errors only.

    A 429 carrying ``Retry-After`` returns that wait (capped at *retry_after_cap_s*):
    stamina uses a float from the hook as the next wait instead of its exponential
    schedule. Other transient errors return ``True`` (exponential backoff); anything
    else, including every ``PermanentError``, returns ``False`` and is raised at once.
    """

    def backoff(exc: Exception) -> bool | float:
        if isinstance(exc, RateLimitedError):
            if exc.retry_after is not None:
                return min(max(exc.retry_after, 0.0), retry_after_cap_s)
            return True
        return isinstance(exc, MistralUnavailableError)

    return backoff


def make_retrying(settings: MistralSettings) -> stamina.BoundAsyncRetryingCaller:
    """The caller that runs one HTTP attempt at a time, bounded by attempts and time."""
    caller = stamina.AsyncRetryingCaller(
        attempts=settings.retry_attempts,
        timeout=settings.retry_timeout_s,
        wait_initial=WAIT_INITIAL_S,
        wait_max=min(WAIT_MAX_S, settings.retry_after_cap_s),
        wait_jitter=min(1.0, settings.retry_after_cap_s),
    )
    return caller.on(make_backoff(settings.retry_after_cap_s))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    Returns ``None`` when absent or unreadable; a date in the past gives ``0.0``.
    *now* is the current Unix time (default ``time.time()``), injectable for tests.
    """
    if value is None or not (value := value.strip()):
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)
