"""Fault knobs through the app: scheduled failures, 5xx, hangs, malformed bodies, 429s, latency."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

import pytest

from tests.unit.localapi.conftest import PDF_HEADER

if TYPE_CHECKING:
    import httpx

    from pipeline.localapi.app import LocalApi
    from tests.unit.localapi.conftest import FakeClock

MODERATION = {"model": "mistral-moderation-2603", "input": "hello there"}
PDF_URI = "data:application/pdf;base64," + base64.b64encode(PDF_HEADER).decode()
RATE_LIMITED = {
    "object": "error",
    "message": "Rate limit exceeded",
    "type": "rate_limited",
    "param": None,
    "code": "1300",
    "raw_status_code": 429,
}


async def test_fail_next_503_twice_then_success(
    client: httpx.AsyncClient, local_api: LocalApi
) -> None:
    """503 twice then 200; failures have a JSON body and are logged as scheduled faults."""
    local_api.faults.fail_next_requests(2, 503)
    statuses = [
        (await client.post("/v1/moderations", json=MODERATION)).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert [r.fault for r in local_api.requests] == ["scheduled", "scheduled", None]
    response = await client.post("/v1/moderations", json=MODERATION)
    assert response.status_code == 200


async def test_scheduled_failure_body(client: httpx.AsyncClient, local_api: LocalApi) -> None:
    """An injected 5xx answers a JSON error envelope with its status."""
    local_api.faults.fail_next_requests(1, 502)
    response = await client.get("/v1/models")
    assert response.status_code == 502
    assert response.json() == {
        "object": "error",
        "message": "Bad gateway",
        "type": "server_error",
        "param": None,
        "code": None,
        "raw_status_code": 502,
    }


async def test_fail_next_429_with_retry_after(
    client: httpx.AsyncClient, local_api: LocalApi
) -> None:
    """A scheduled 429 answers the 2026 envelope and the Retry-After asked for; it is logged."""
    local_api.faults.fail_next_requests(2, 429, retry_after=7)
    for _ in range(2):
        response = await client.post("/v1/moderations", json=MODERATION)
        assert response.status_code == 429
        assert response.json() == RATE_LIMITED
        assert response.headers["retry-after"] == "7"
    assert (await client.post("/v1/moderations", json=MODERATION)).status_code == 200
    assert [r.retry_after for r in local_api.requests] == [7, 7, None]


async def test_fail_next_for_one_path_only(client: httpx.AsyncClient, local_api: LocalApi) -> None:
    """A path-bound failure leaves other routes alone."""
    local_api.faults.fail_next_requests(1, 500, path="/v1/ocr")
    assert (await client.post("/v1/moderations", json=MODERATION)).status_code == 200
    response = await client.post(
        "/v1/ocr", json={"model": "mistral-ocr-4-0", "document": {"document_url": PDF_URI}}
    )
    assert response.status_code == 500


async def test_auth_comes_before_faults(client: httpx.AsyncClient, local_api: LocalApi) -> None:
    """A request without a key is refused 401 and does not consume a scheduled failure."""
    local_api.faults.fail_next_requests(1, 503)
    response = await client.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert (await client.get("/v1/models")).status_code == 503


async def test_random_server_errors_are_seeded(
    local_api: LocalApi, client: httpx.AsyncClient
) -> None:
    """error_rate=1 always fails with 500/502/503/504; the sequence repeats after reseeding."""
    local_api.faults.error_rate = 1.0
    local_api.faults.reseed(11)
    first = [(await client.get("/v1/models")).status_code for _ in range(8)]
    local_api.faults.reseed(11)
    second = [(await client.get("/v1/models")).status_code for _ in range(8)]
    assert first == second
    assert set(first) <= {500, 502, 503, 504}
    local_api.faults.error_rate = 0.0
    assert (await client.get("/v1/models")).status_code == 200


async def test_hang_sleeps_then_answers_504(
    client: httpx.AsyncClient, local_api: LocalApi, clock: FakeClock
) -> None:
    """hang_rate=1 sleeps hang_s (on the injected sleep) before a 504."""
    local_api.faults.hang_rate = 1.0
    local_api.faults.hang_s = 900.0
    response = await client.post("/v1/moderations", json=MODERATION)
    assert response.status_code == 504
    assert clock.sleeps == [900.0]
    assert local_api.requests[-1].fault == "hang"


async def test_malformed_body_is_truncated_json(
    client: httpx.AsyncClient, local_api: LocalApi
) -> None:
    """malformed_rate=1 answers 200 application/json whose body does not parse."""
    local_api.faults.malformed_rate = 1.0
    response = await client.post("/v1/moderations", json=MODERATION)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content.startswith(b'{"id":')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert local_api.requests[-1].fault == "malformed"


async def test_latency_uses_the_injected_sleep(
    client: httpx.AsyncClient, local_api: LocalApi, clock: FakeClock
) -> None:
    """latency_ms + per_page_ms * pages is slept before answering."""
    local_api.faults.latency_ms = 150
    local_api.faults.per_page_ms = 100
    await client.post("/v1/moderations", json=MODERATION)
    await client.post(
        "/v1/ocr", json={"model": "mistral-ocr-4-0", "document": {"document_url": PDF_URI}}
    )
    assert clock.sleeps == pytest.approx([0.15, 0.45])


async def test_requests_per_second_limit(
    client: httpx.AsyncClient, local_api: LocalApi, clock: FakeClock
) -> None:
    """Over requests_per_s: 429 envelope, Retry-After >= 1, x-ratelimit headers; then it frees."""
    local_api.faults.requests_per_s = 2
    ok = await client.get("/v1/models")
    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-limit-req-minute"] == "120"
    assert ok.headers["x-ratelimit-remaining-req-minute"] == "119"
    clock.advance(0.4)
    assert (await client.get("/v1/models")).status_code == 200
    refused = await client.get("/v1/models")
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-ratelimit-remaining-req-minute"] == "118"
    clock.advance(0.6)
    assert (await client.get("/v1/models")).status_code == 200


async def test_tokens_per_minute_limit(
    client: httpx.AsyncClient, local_api: LocalApi, clock: FakeClock
) -> None:
    """Tokens are ceil(len/4) per text; over tokens_per_min → 429 with the window's Retry-After."""
    local_api.faults.tokens_per_min = 10
    body = {"model": "mistral-moderation-2603", "input": ["x" * 16, "y" * 12]}  # 4 + 3 tokens
    ok = await client.post("/v1/moderations", json=body)
    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-limit-tokens-minute"] == "10"
    assert ok.headers["x-ratelimit-remaining-tokens-minute"] == "3"
    clock.advance(20)
    refused = await client.post("/v1/moderations", json=body)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "40"
    assert refused.headers["x-ratelimit-remaining-tokens-minute"] == "3"
    assert local_api.requests[-1].retry_after == 40
    clock.advance(40)
    assert (await client.post("/v1/moderations", json=body)).status_code == 200


async def test_pages_per_minute_limit(
    client: httpx.AsyncClient, local_api: LocalApi, clock: FakeClock
) -> None:
    """Pages read are charged; the next OCR request waits for the pages window."""
    local_api.faults.pages_per_min = 3
    body = {"model": "mistral-ocr-4-0", "document": {"document_url": PDF_URI}}
    assert (await client.post("/v1/ocr", json=body)).status_code == 200
    clock.advance(15)
    refused = await client.post("/v1/ocr", json=body)
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert refused.headers["retry-after"] == "45"
    clock.advance(45)
    assert (await client.post("/v1/ocr", json={**body, "pages": "0-1"})).status_code == 200
