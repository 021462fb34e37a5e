"""MistralClient: lifecycle, request bodies, document helpers, limiter accounting."""

from __future__ import annotations

import base64

import httpx
import pytest
from pydantic import SecretStr

from pipeline.errors import ConfigError, UnsupportedContentError
from pipeline.mistral import ChatMessage, MistralClient, document_from_bytes, document_from_url
from pipeline.mistral.client import LOCAL_API_KEY, count_pages, estimate_tokens
from pipeline.mistral.ratelimit import RateLimiter
from pipeline.mistral.wire import DocumentURLChunk, ImageURLChunk
from pipeline.settings import MistralSettings
from tests.unit.mistral.conftest import (
    API_KEY,
    MODERATION_OK,
    FakeClock,
    Opener,
    Recorder,
    fixture_json,
    ok,
)

OCR_OK = fixture_json("recorded", "ocr_word_confidence_mistral-ocr-4-1_docs_illustrative.json")


async def test_client_opens_once(settings: MistralSettings) -> None:
    """Reopening a client (open or closed) raises; a closed client refuses calls."""
    client = MistralClient.open(
        settings, transport=httpx.MockTransport(Recorder([ok(MODERATION_OK)]))
    )
    async with client:
        with pytest.raises(RuntimeError, match="opens once"):
            await client.__aenter__()
    with pytest.raises(RuntimeError, match="opens once"):
        async with client:
            pass
    with pytest.raises(RuntimeError, match="closed"):
        await client.moderate("x")


def test_repr_hides_the_key(settings: MistralSettings) -> None:
    """The repr says whether a key is set, never which."""
    client = MistralClient.open(settings, transport=httpx.MockTransport(Recorder([ok({})])))
    assert API_KEY not in repr(client)
    assert (
        repr(client)
        == "MistralClient(base_url='https://mistral.test', state=unopened, api_key=set)"
    )


def test_local_base_url_needs_a_transport() -> None:
    """``local`` without a transport is a configuration error pointing at open_mistral()."""
    with pytest.raises(ConfigError, match="open_mistral"):
        MistralClient.open(MistralSettings(base_url="local"))
    client = MistralClient.open(
        MistralSettings(base_url="local"), transport=httpx.MockTransport(Recorder([ok({})]))
    )
    assert "http://localapi" in repr(client)


async def test_local_api_without_a_key_gets_the_local_bearer() -> None:
    """With no key configured the client sends the local API's bearer, not nothing."""
    recorder = Recorder([ok(MODERATION_OK)])
    transport = httpx.MockTransport(recorder)
    async with MistralClient.open(MistralSettings(), transport=transport) as client:
        await client.moderate("x")
    assert recorder.requests[0].headers["authorization"] == f"Bearer {LOCAL_API_KEY}"
    assert recorder.requests[0].url.host == "localapi"


async def test_moderate_request(open_client: Opener) -> None:
    """POST /v1/moderations with the settings' model, the key and the inputs."""
    recorder = Recorder([ok(MODERATION_OK)])
    async with open_client(recorder) as client:
        response = await client.moderate(["a", "b"])
        await client.moderate("c", model="mistral-moderation-latest")
    first, second = recorder.requests
    assert first.method == "POST"
    assert first.url == "https://mistral.test/v1/moderations"
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorder.bodies() == [
        {"model": "mistral-moderation-2603", "input": ["a", "b"]},
        {"model": "mistral-moderation-latest", "input": "c"},
    ]
    assert second.headers["content-type"] == "application/json"
    assert response.total_tokens == 99


async def test_moderate_chat_one_or_many_conversations(open_client: Opener) -> None:
    """A flat list is one conversation; a list of lists is several."""
    recorder = Recorder([ok(MODERATION_OK)])
    turn = [ChatMessage(role="user", content="hi"), ChatMessage(role="assistant", content="hello")]
    async with open_client(recorder) as client:
        await client.moderate_chat(turn)
        await client.moderate_chat([turn, turn[:1]])
    assert recorder.requests[0].url.path == "/v1/chat/moderations"
    one, many = recorder.bodies()
    assert one["input"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert len(many["input"]) == 2
    assert many["input"][1] == [{"role": "user", "content": "hi"}]


async def test_ocr_request(open_client: Opener) -> None:
    """POST /v1/ocr with the settings' model, explicit booleans and the chosen options."""
    recorder = Recorder([ok(OCR_OK)])
    document = document_from_bytes(b"%PDF-1.4 tiny", "application/pdf", filename="a.pdf")
    async with open_client(recorder) as client:
        response = await client.ocr(document, pages="0-1", table_format="html", extract_header=True)
    (body,) = recorder.bodies()
    assert recorder.requests[0].url.path == "/v1/ocr"
    assert body == {
        "model": "mistral-ocr-4-0",
        "document": {
            "type": "document_url",
            "document_url": "data:application/pdf;base64,"
            + base64.b64encode(b"%PDF-1.4 tiny").decode(),
            "document_name": "a.pdf",
        },
        "pages": "0-1",
        "include_image_base64": False,
        "image_limit": 0,
        "table_format": "html",
        "extract_header": True,
        "extract_footer": False,
        "include_blocks": True,
    }
    assert response.pages[0].markdown.startswith("# Mistral OCR")


async def test_list_models(open_client: Opener) -> None:
    """GET /v1/models parses the card list."""
    recorder = Recorder(
        [ok({"object": "list", "data": [{"id": "mistral-ocr-4-0", "capabilities": {"ocr": True}}]})]
    )
    async with open_client(recorder) as client:
        models = await client.list_models()
    assert recorder.requests[0].method == "GET"
    assert models.ids() == ["mistral-ocr-4-0"]


async def test_every_attempt_passes_the_limiter(
    settings: MistralSettings, clock: FakeClock
) -> None:
    """At 1 req/s, a 503 then a 200 costs two acquires: the retry waits 1 s on the limiter."""
    limiter = RateLimiter(requests_per_s=1, clock=clock, sleep=clock.sleep)
    recorder = Recorder([httpx.Response(503), ok(MODERATION_OK)])
    async with MistralClient.open(
        settings, transport=httpx.MockTransport(recorder), limiter=limiter
    ) as client:
        await client.moderate("hello")
    assert clock.sleeps == pytest.approx([1.0])


async def test_usage_corrects_the_estimates(settings: MistralSettings, clock: FakeClock) -> None:
    """Tokens from ``usage`` and pages from ``usage_info`` are what the limiter is charged."""
    limiter = RateLimiter(tokens_per_min=99, pages_per_min=1, clock=clock, sleep=clock.sleep)
    recorder = Recorder([ok(MODERATION_OK), ok(MODERATION_OK)])
    async with MistralClient.open(
        settings, transport=httpx.MockTransport(recorder), limiter=limiter
    ) as client:
        await client.moderate("x")  # 99 tokens billed: the minute's budget is spent
        await client.moderate("x")
    assert sum(clock.sleeps) == pytest.approx(estimate_tokens(["x"]) / 99 * 60)


async def test_ratelimit_headers_reach_the_limiter(
    open_client: Opener, limiter: RateLimiter
) -> None:
    """``x-ratelimit-*`` headers of a response are observed by the limiter."""
    headers = {
        "x-ratelimit-remaining-tokens-minute": "1234",
        "x-ratelimit-limit-tokens-minute": "5000",
    }
    async with open_client(Recorder([ok(MODERATION_OK, headers=headers)])) as client:
        await client.moderate("x")
    assert limiter.last_headers == headers


def test_document_from_bytes() -> None:
    """application/* is a document_url chunk, image/* an image_url chunk, both data URIs."""
    pdf = document_from_bytes(b"%PDF", "Application/PDF; charset=binary", "x.pdf")
    assert isinstance(pdf, DocumentURLChunk)
    assert pdf.document_url == "data:application/pdf;base64,JVBERg=="
    assert pdf.document_name == "x.pdf"
    png = document_from_bytes(b"\x89PNG", "image/png")
    assert isinstance(png, ImageURLChunk)
    assert png.image_url == "data:image/png;base64,iVBORw=="
    with pytest.raises(UnsupportedContentError):
        document_from_bytes(b"text", "text/plain")


def test_document_from_url() -> None:
    """An https URL is a document_url chunk; an image data URI stays an image."""
    assert document_from_url("https://x/a.pdf") == DocumentURLChunk(document_url="https://x/a.pdf")
    assert isinstance(document_from_url("data:image/png;base64,AA=="), ImageURLChunk)


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        (None, 1),
        ([0, 1, 1], 2),
        ([], 1),
        ("0", 1),
        ("0-5", 6),
        ("0,2-4", 4),
        ("weird", 1),
        ("3-1", 1),
    ],
)
def test_count_pages(pages: str | list[int] | None, expected: int) -> None:
    """0-based page selections are counted for the pages/min limiter."""
    assert count_pages(pages) == expected


def test_settings_key_is_secret() -> None:
    """The key is a SecretStr in the settings the client reads."""
    settings = MistralSettings(api_key=SecretStr(API_KEY))
    assert API_KEY not in repr(settings)
