"""Fault knobs and rate windows, on a fake clock."""

from __future__ import annotations

import pytest

from pipeline.localapi.faults import FAULTS_ENV, FailSpec, Faults, RateDecision, RateWindows
from tests.unit.localapi.conftest import FakeClock


def test_from_json_sets_knobs() -> None:
    """The JSON form names dataclass fields; fail_next becomes FailSpec objects."""
    faults = Faults.from_json(
        '{"latency_ms": 150, "jitter_ms": 10, "error_rate": 0.1, "tokens_per_min": 5000,'
        ' "fail_next": [{"status": 503, "count": 2}], "seed": 7}'
    )
    assert faults.latency_ms == 150
    assert faults.error_rate == 0.1
    assert faults.tokens_per_min == 5000
    assert faults.fail_next == [FailSpec(status=503, count=2)]
    assert faults.seed == 7


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"latency": 1}', ValueError),
        ('{"error_rate": 2}', ValueError),
        ('{"requests_per_s": 0}', ValueError),
        ("[1]", ValueError),
        ("{", ValueError),
        ('{"latency_ms": "slow"}', ValueError),
        ('{"fail_next": [{"status": 503, "times": 2}]}', ValueError),
    ],
)
def test_from_json_refuses_bad_knobs(text: str, error: type[Exception]) -> None:
    """Unknown keys, out-of-range values and non-objects are refused at start."""
    with pytest.raises(error):
        Faults.from_json(text)


def test_from_env() -> None:
    """MODOCR_LOCALAPI__FAULTS is read; unset means no faults."""
    assert Faults.from_env({}) == Faults()
    assert Faults.from_env({FAULTS_ENV: '{"hang_rate": 0.5}'}).hang_rate == 0.5


def test_scheduled_failures_run_out_in_order() -> None:
    """fail_next_requests(2, 503) fails two requests, then a path-bound 429 applies only there."""
    faults = Faults()
    faults.fail_next_requests(2, 503)
    faults.fail_next_requests(1, 429, retry_after=7, path="/v1/ocr")
    assert faults.take_scheduled_failure("/v1/moderations") == FailSpec(503)
    assert faults.take_scheduled_failure("/v1/ocr") == FailSpec(503)
    assert faults.take_scheduled_failure("/v1/moderations") is None
    assert faults.take_scheduled_failure("/v1/ocr") == FailSpec(429, retry_after=7, path="/v1/ocr")
    assert faults.fail_next == []
    with pytest.raises(ValueError, match="count"):
        faults.fail_next_requests(0, 503)


def test_rolls_are_reproducible_from_the_seed() -> None:
    """Two Faults with the same seed draw the same errors, hangs and malformed bodies."""
    first = Faults(error_rate=0.5, hang_rate=0.2, malformed_rate=0.3, jitter_ms=50, seed=3)
    second = Faults(error_rate=0.5, hang_rate=0.2, malformed_rate=0.3, jitter_ms=50, seed=3)

    def draw(f: Faults) -> list[tuple[int | None, bool, bool, float]]:
        return [
            (f.roll_server_error(), f.roll_hang(), f.roll_malformed(), f.latency_s())
            for _ in range(50)
        ]

    drawn = draw(first)
    assert drawn == draw(second)
    statuses = {status for status, *_ in drawn if status is not None}
    assert statuses <= {500, 502, 503, 504}
    assert statuses
    first.reseed(3)
    assert draw(first) == drawn


def test_zero_rates_never_fire() -> None:
    """With every rate at 0 nothing is drawn and latency is exactly the fixed part."""
    faults = Faults(latency_ms=100, per_page_ms=20)
    assert faults.roll_server_error() is None
    assert not faults.roll_hang()
    assert not faults.roll_malformed()
    assert faults.latency_s(pages=3) == pytest.approx(0.16)


def test_requests_per_second_window() -> None:
    """Two requests/s: the third in the same second is refused until the first leaves the window."""
    clock = FakeClock()
    windows = RateWindows(clock)
    faults = Faults(requests_per_s=2)
    assert windows.admit_request(faults).allowed
    clock.advance(0.3)
    assert windows.admit_request(faults).allowed
    refused = windows.admit_request(faults)
    assert refused == RateDecision(allowed=False, retry_after=1, limit="requests")
    clock.advance(0.7)
    assert windows.admit_request(faults).allowed


def test_slow_request_rate_waits_whole_seconds() -> None:
    """0.25 requests/s allows one request per 4 s; Retry-After is the rounded-up remainder."""
    clock = FakeClock()
    windows = RateWindows(clock)
    faults = Faults(requests_per_s=0.25)
    assert windows.admit_request(faults).allowed
    clock.advance(1.5)
    assert windows.admit_request(faults).retry_after == 3
    clock.advance(2.5)
    assert windows.admit_request(faults).allowed


def test_tokens_per_minute_retry_after() -> None:
    """Retry-After is when enough old tokens leave the 60 s window for the new request."""
    clock = FakeClock()
    windows = RateWindows(clock)
    faults = Faults(tokens_per_min=100)
    assert windows.admit_tokens(faults, 60).allowed
    clock.advance(10)
    assert windows.admit_tokens(faults, 30).allowed
    clock.advance(5)
    refused = windows.admit_tokens(faults, 20)
    assert refused == RateDecision(allowed=False, retry_after=45, limit="tokens")
    assert windows.headers(faults)["x-ratelimit-remaining-tokens-minute"] == "10"
    clock.advance(45)
    assert windows.admit_tokens(faults, 20).allowed


def test_oversized_request_waits_for_an_empty_window() -> None:
    """A request above the whole per-minute limit is charged as the limit, not refused forever."""
    clock = FakeClock()
    windows = RateWindows(clock)
    faults = Faults(tokens_per_min=100)
    assert windows.admit_tokens(faults, 500).allowed
    clock.advance(1)
    assert windows.admit_tokens(faults, 500).retry_after == 59


def test_pages_are_checked_then_charged() -> None:
    """check_pages charges nothing; charge_pages counts what was actually read."""
    clock = FakeClock()
    windows = RateWindows(clock)
    faults = Faults(pages_per_min=10)
    assert windows.check_pages(faults, 1).allowed
    windows.charge_pages(faults, 9)
    assert windows.check_pages(faults, 1).allowed
    assert not windows.check_pages(faults, 2).allowed
    windows.charge_pages(faults, 1)
    clock.advance(20)
    assert windows.check_pages(faults, 1).retry_after == 40


def test_headers_only_for_configured_limits() -> None:
    """No limits, no x-ratelimit headers; with limits, the 2026 header names."""
    windows = RateWindows(FakeClock())
    assert windows.headers(Faults()) == {}
    faults = Faults(requests_per_s=2, tokens_per_min=500)
    windows.admit_request(faults)
    assert windows.headers(faults) == {
        "x-ratelimit-limit-req-minute": "120",
        "x-ratelimit-remaining-req-minute": "119",
        "x-ratelimit-limit-tokens-minute": "500",
        "x-ratelimit-remaining-tokens-minute": "500",
    }
    windows.reset()
    assert windows.headers(faults)["x-ratelimit-remaining-req-minute"] == "120"
