"""MistralClient against the real local Mistral-compatible API, in-process and over a socket."""

from __future__ import annotations

import io
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import httpx
import pytest
from pydantic import SecretStr
from reportlab.pdfgen import canvas

from pipeline.errors import MistralRejectedError, MistralUnavailableError
from pipeline.localapi.app import LocalApi
from pipeline.localapi.faults import Faults
from pipeline.localapi.server import serve_local_api
from pipeline.mistral import (
    ChatMessage,
    DocumentURLChunk,
    MistralClient,
    RateLimiter,
    document_from_bytes,
    open_mistral,
)
from pipeline.settings import MistralSettings
from tests.unit.localapi_ocr.pages import PARAGRAPH, SCAN_DPI, cer, image_bytes, scan, text_pdf

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API_KEY = "sk-local-good-3b1f"
WRONG_KEY = "sk-wrong-CANARY-9d2e77"
OFFENSIVE = "You are a fucking idiot."
BENIGN = "The meeting is moved to Thursday at 10am."
MAX_CER = 0.02
PII = [
    "Write to me at jane.doe@example.com for the contract.",
    "Call me on +1 415 555 0132 tomorrow.",
    "My card number is 4111 1111 1111 1111.",
]


@dataclass
class FakeClock:
    """The limiter's clock: moves only when the limiter sleeps, so nothing really waits."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def local_api() -> LocalApi:
    """One local API (engines load once); faults and the request log reset per test."""
    return LocalApi(api_key=API_KEY)


@pytest.fixture(scope="module")
async def socket_url(local_api: LocalApi) -> AsyncIterator[str]:
    async with serve_local_api(local_api, host="127.0.0.1", port=0) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _fresh_api(local_api: LocalApi) -> None:
    local_api.faults = Faults()
    local_api.windows.reset()
    local_api.requests.clear()


@pytest.fixture
def settings() -> MistralSettings:
    return MistralSettings(base_url="local", api_key=SecretStr(API_KEY), timeout_s=5.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Opener(Protocol):
    def __call__(
        self, custom: MistralSettings | None = None
    ) -> AbstractAsyncContextManager[MistralClient]: ...


@pytest.fixture(params=["asgi", "socket"])
def open_client(
    request: pytest.FixtureRequest,
    local_api: LocalApi,
    settings: MistralSettings,
    clock: FakeClock,
) -> Opener:
    """Opens a client on the local API over ``httpx.ASGITransport`` or a loopback socket."""
    socket_base_url = request.getfixturevalue("socket_url") if request.param == "socket" else None

    @asynccontextmanager
    async def opener(custom: MistralSettings | None = None) -> AsyncIterator[MistralClient]:
        chosen = custom or settings
        limiter = RateLimiter(clock=clock, sleep=clock.sleep)
        if request.param == "asgi":
            transport = httpx.ASGITransport(app=local_api.app)
            async with MistralClient.open(chosen, transport=transport, limiter=limiter) as client:
                yield client
        else:
            async with MistralClient.open(
                chosen, base_url=socket_base_url, limiter=limiter
            ) as client:
                yield client

    return opener


def _statuses(local_api: LocalApi) -> list[int | None]:
    return [record.status for record in local_api.requests]


async def test_offensive_flagged_benign_not(open_client: Opener) -> None:
    """The offensive sentence is flagged in some category; the benign one in none."""
    async with open_client() as client:
        response = await client.moderate([OFFENSIVE, BENIGN])
    offensive, benign = response.results
    assert any(offensive.categories.values())
    assert not any(benign.categories.values())
    assert response.model == "mistral-moderation-2603"
    assert response.total_tokens


async def test_pii_is_flagged(open_client: Opener) -> None:
    """An email, a phone number and a card number are each flagged as ``pii``."""
    async with open_client() as client:
        response = await client.moderate(PII)
    assert [result.categories.get("pii") for result in response.results] == [True, True, True]


async def test_chat_moderation_classifies_the_last_turn(open_client: Opener) -> None:
    """One result per conversation."""
    calm = [ChatMessage(role="user", content=BENIGN)]
    rude = [
        ChatMessage(role="user", content="Hi"),
        ChatMessage(role="assistant", content=OFFENSIVE),
    ]
    async with open_client() as client:
        response = await client.moderate_chat([calm, rude])
    assert len(response.results) == 2
    assert not any(response.results[0].categories.values())
    assert any(response.results[1].categories.values())


async def test_two_503_then_success(open_client: Opener, local_api: LocalApi) -> None:
    """Two 503s are retried; the third attempt succeeds."""
    local_api.faults.fail_next_requests(2, 503)
    async with open_client() as client:
        response = await client.moderate(BENIGN)
    assert response.results
    assert _statuses(local_api) == [503, 503, 200]


async def test_429_with_retry_after_waits_then_succeeds(
    open_client: Opener, local_api: LocalApi, clock: FakeClock
) -> None:
    """A 429 with Retry-After: 3 blocks the next attempt for 3 s (on the fake clock), then 200."""
    local_api.faults.fail_next_requests(1, 429, retry_after=3)
    async with open_client() as client:
        response = await client.moderate(BENIGN)
    assert response.results
    assert _statuses(local_api) == [429, 200]
    assert local_api.requests[0].retry_after == 3
    assert clock.sleeps == [3.0]


async def test_wrong_key_is_rejected_once_and_never_printed(
    open_client: Opener,
    local_api: LocalApi,
    settings: MistralSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """401 is permanent: one request, and the key is in no error text, repr or log line."""
    caplog.set_level(logging.DEBUG)
    wrong = settings.model_copy(update={"api_key": SecretStr(WRONG_KEY)})
    async with open_client(wrong) as client:
        assert WRONG_KEY not in repr(client)
        with pytest.raises(MistralRejectedError) as info:
            await client.moderate(BENIGN)
    assert info.value.status_code == 401
    assert _statuses(local_api) == [401]
    texts = [str(info.value), repr(info.value), repr(info.value.__cause__), caplog.text]
    texts += [repr(vars(record)) for record in caplog.records]
    assert all(WRONG_KEY not in text for text in texts)


async def test_422_is_permanent(open_client: Opener, local_api: LocalApi) -> None:
    """A document the API's validator refuses is a 422, raised after one request."""
    async with open_client() as client:
        with pytest.raises(MistralRejectedError) as info:
            await client.ocr(DocumentURLChunk(document_url="ftp://example.com/a.pdf"))
    assert info.value.status_code == 422
    assert "Document content must be a URL" in str(info.value)
    assert _statuses(local_api) == [422]


async def test_unknown_model_is_permanent(open_client: Opener, local_api: LocalApi) -> None:
    """An unknown model is a 404 carrying the API's code, raised after one request."""
    async with open_client() as client:
        with pytest.raises(MistralRejectedError) as info:
            await client.moderate(BENIGN, model="mistral-moderation-0000")
    assert info.value.status_code == 404
    assert len(local_api.requests) == 1


async def test_malformed_bodies_are_retried_then_raised(
    open_client: Opener, local_api: LocalApi
) -> None:
    """Truncated JSON on every attempt: retried (3 attempts in test mode), then unavailable."""
    local_api.faults = Faults(malformed_rate=1.0)
    async with open_client() as client:
        with pytest.raises(MistralUnavailableError, match="malformed"):
            await client.moderate(BENIGN)
    assert len(local_api.requests) == 3


async def test_hanging_server_times_out(
    local_api: LocalApi, settings: MistralSettings, socket_url: str, clock: FakeClock
) -> None:
    """Over a socket, a hang becomes a read timeout: MistralUnavailableError after the retries."""
    local_api.faults = Faults(hang_rate=1.0, hang_s=1.0)
    quick = settings.model_copy(update={"timeout_s": 0.2})
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    async with MistralClient.open(quick, base_url=socket_url, limiter=limiter) as client:
        with pytest.raises(MistralUnavailableError) as info:
            await client.list_models()
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert len(local_api.requests) == 3


async def test_ocr_round_trip_of_a_small_pdf(open_client: Opener) -> None:
    """A two-page text PDF comes back as two pages of markdown with usage and dimensions."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, "Invoice 42 for ACME Corporation")
    pdf.showPage()
    pdf.drawString(72, 720, "Thank you for your order")
    pdf.save()
    document = document_from_bytes(buffer.getvalue(), "application/pdf", filename="invoice.pdf")
    async with open_client() as client:
        response = await client.ocr(document)
        second = await client.ocr(document, pages=[1])
    assert [page.index for page in response.pages] == [0, 1]
    assert "Invoice 42" in response.pages[0].markdown
    assert "Thank you" in response.pages[1].markdown
    assert response.pages_processed == 2
    assert response.pages[0].dimensions is not None
    assert [page.index for page in second.pages] == [1]


async def test_models_include_the_configured_ones(open_client: Opener) -> None:
    """The settings' default OCR and moderation models are listed."""
    async with open_client() as client:
        models = await client.list_models()
    assert {"mistral-ocr-4-0", "mistral-moderation-2603"} <= set(models.ids())


async def test_ratelimit_headers_reach_the_limiter(
    open_client: Opener, local_api: LocalApi
) -> None:
    """With a tokens quota the local API sends x-ratelimit-* headers; the limiter sees them."""
    local_api.faults = Faults(tokens_per_min=100_000)
    async with open_client() as client:
        await client.moderate(BENIGN)
        headers = client.limiter.last_headers
    assert headers["x-ratelimit-limit-tokens-minute"] == "100000"
    assert int(headers["x-ratelimit-remaining-tokens-minute"]) < 100_000


async def test_open_mistral_mounts_the_local_api(
    local_api: LocalApi, settings: MistralSettings
) -> None:
    """``base_url=local``: open_mistral serves the given local API in-process."""
    async with open_mistral(settings, local_api=local_api) as client:
        response = await client.moderate(OFFENSIVE)
    assert any(response.results[0].categories.values())
    assert [record.path for record in local_api.requests] == ["/v1/moderations"]


async def test_open_mistral_without_a_key_uses_its_own_local_api() -> None:
    """Default settings (``auto``, no key): an in-process local API answers, no key needed."""
    async with open_mistral(MistralSettings()) as client:
        models = await client.list_models()
    assert "mistral-moderation-2603" in models.ids()


OCR_CASES: dict[str, Callable[[], tuple[bytes, str]]] = {
    "pdf-text-layer": lambda: (text_pdf([PARAGRAPH]), "application/pdf"),
    "scan": lambda: (image_bytes(scan(), dpi=(SCAN_DPI, SCAN_DPI)), "image/png"),
    "scan-rot90": lambda: (image_bytes(scan().rotate(90, expand=True)), "image/png"),
    "scan-rot180": lambda: (image_bytes(scan().rotate(180, expand=True)), "image/png"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(OCR_CASES))
async def test_ocr_through_the_client_is_accurate(
    open_client: Opener, settings: MistralSettings, case: str
) -> None:
    """A text-layer PDF, a scan, and the scan rotated 90 and 180 degrees: CER computed, <= 2%.

    With the default read timeout: the other tests' 5 s is shorter than a rotated scan's OCR
    on a busy 2-core machine (seen: three read timeouts in one CI run), and this test is about
    accuracy, not speed.
    """
    data, mime_type = OCR_CASES[case]()
    ocr_settings = settings.model_copy(update={"timeout_s": MistralSettings().timeout_s})
    async with open_client(ocr_settings) as client:
        response = await client.ocr(document_from_bytes(data, mime_type))
    assert [page.index for page in response.pages] == [0]
    assert cer(PARAGRAPH, response.pages[0].markdown) <= MAX_CER, response.pages[0].markdown
    assert response.usage_info is not None
    assert response.usage_info.pages_processed == 1
