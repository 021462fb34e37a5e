"""Every error body shape of the reference (§7.1, §7.2) becomes the right typed error."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pipeline import errors
from pipeline.errors import (
    MistralRejectedError,
    MistralUnavailableError,
    PipelineError,
    RateLimitedError,
)
from tests.unit.mistral.conftest import API_KEY, FIXTURES, MODERATION_OK, Opener, Recorder, ok

if TYPE_CHECKING:
    from pathlib import Path

ERROR_FIXTURES = sorted((FIXTURES / "errors").glob("*.json"))
STAMINA_TEST_ATTEMPTS = 3


def _response(spec: dict[str, Any]) -> httpx.Response:
    if "body_text" in spec:
        return httpx.Response(spec["status"], text=spec["body_text"], headers=spec["headers"])
    return httpx.Response(spec["status"], json=spec["body"], headers=spec["headers"])


def test_every_reference_status_has_a_fixture() -> None:
    """400, 401, 403, 404, 422, 429 and the transient 408/5xx all have body fixtures."""
    statuses = {int(p.name.split("_", 1)[0]) for p in ERROR_FIXTURES}
    assert statuses >= {400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 504}


@pytest.mark.parametrize("path", ERROR_FIXTURES, ids=lambda p: p.stem)
async def test_error_body_maps_to_typed_error(path: Path, open_client: Opener) -> None:
    """Status, code, type and Retry-After are carried; the message is short and payload-free."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    expect = spec["expect"]
    recorder = Recorder([_response(spec)])
    async with open_client(recorder) as client:
        with pytest.raises(PipelineError) as info:
            await client.moderate("hello")
    exc = info.value
    assert type(exc) is getattr(errors, expect["error"])
    assert isinstance(exc.__cause__, httpx.HTTPStatusError)
    assert expect["message_contains"].lower() in str(exc).lower()
    assert len(str(exc)) < 300
    if "message_excludes" in expect:
        assert expect["message_excludes"] not in str(exc)
    if isinstance(exc, MistralRejectedError):
        assert exc.status_code == spec["status"]
        assert exc.code == expect["code"]
        assert exc.error_type == expect["error_type"]
        assert len(recorder.requests) == 1, "a permanent error is never retried"
    elif isinstance(exc, RateLimitedError):
        assert exc.status_code == 429
        assert exc.code == expect["code"]
        assert exc.retry_after == expect["retry_after"]
        assert len(recorder.requests) == STAMINA_TEST_ATTEMPTS
    else:
        assert isinstance(exc, MistralUnavailableError)
        assert exc.status_code == spec["status"]
        assert len(recorder.requests) == STAMINA_TEST_ATTEMPTS


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_transient_statuses_are_retried_until_success(
    status: int, open_client: Opener
) -> None:
    """Two transient failures, then a 200: the call succeeds on the third attempt."""
    failure = httpx.Response(status, json={"message": "try later"})
    recorder = Recorder([failure, failure, ok(MODERATION_OK)])
    async with open_client(recorder) as client:
        response = await client.moderate("hello")
    assert response.model == "mistral-moderation-2603"
    assert len(recorder.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
async def test_permanent_statuses_are_not_retried(status: int, open_client: Opener) -> None:
    """A 4xx (other than 408/429) or a 501 is raised after one request."""
    recorder = Recorder([httpx.Response(status, json={"detail": "no"}), ok(MODERATION_OK)])
    async with open_client(recorder) as client:
        with pytest.raises(MistralRejectedError) as info:
            await client.moderate("hello")
    assert info.value.status_code == status
    assert not info.value.retriable
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("peer closed"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_network_failures_are_unavailable_and_retried(
    failure: Exception, open_client: Opener
) -> None:
    """Timeouts and connection errors become a chained MistralUnavailableError, retried."""
    recorder = Recorder([failure])
    async with open_client(recorder) as client:
        with pytest.raises(MistralUnavailableError) as info:
            await client.list_models()
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert info.value.status_code is None
    assert len(recorder.requests) == 3


@pytest.mark.parametrize(
    "body",
    [b'{"id": "x", "model": "m", "resu', b"<html>oops</html>", b'{"id": "x"}', b"[]"],
    ids=["truncated", "html", "missing-fields", "wrong-type"],
)
async def test_malformed_success_body_is_transient(body: bytes, open_client: Opener) -> None:
    """A 200 that is not valid JSON or not the schema is retried, then succeeds."""
    recorder = Recorder([httpx.Response(200, content=body), ok(MODERATION_OK)])
    async with open_client(recorder) as client:
        response = await client.moderate("hello")
    assert response.results
    assert len(recorder.requests) == 2


async def test_malformed_body_error_is_chained_and_payload_free(open_client: Opener) -> None:
    """The error names the endpoint and the first bad field, never the body's content."""
    body = b'{"id": "x", "model": "m", "results": [{"categories": {"pii": "CANARY-TEXT"}}]}'
    recorder = Recorder([httpx.Response(200, content=body)])
    async with open_client(recorder) as client:
        with pytest.raises(MistralUnavailableError) as info:
            await client.moderate("hello")
    assert "/v1/moderations" in str(info.value)
    assert "results.0.categories.pii" in str(info.value)
    assert "CANARY" not in str(info.value)
    assert "CANARY" not in str(info.value.__cause__)


async def test_wrong_key_never_leaks(open_client: Opener, caplog: pytest.LogCaptureFixture) -> None:
    """A 401 for a wrong key: the key is in no exception text, repr or log record."""
    caplog.set_level(logging.DEBUG)
    recorder = Recorder([httpx.Response(401, json={"detail": "Unauthorized"})])
    async with open_client(recorder) as client:
        assert API_KEY not in repr(client)
        with pytest.raises(MistralRejectedError) as info:
            await client.moderate("hello")
    assert recorder.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    exc = info.value
    texts = [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__), caplog.text]
    texts += [repr(record.__dict__) for record in caplog.records]
    assert all(API_KEY not in text for text in texts)
    assert any("mistral request POST /v1/moderations" in r.getMessage() for r in caplog.records)
