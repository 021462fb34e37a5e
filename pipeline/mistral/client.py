"""``MistralClient``: the one async client of the Mistral API, owning one ``httpx.AsyncClient``.

Typed methods per endpoint; every HTTP attempt passes the rate limiter, is retried by the
stamina policy of ``retry.py`` if transient, and has its failures translated here, and only
here, into the ``pipeline.errors`` tree.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from enum import Enum
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from pipeline.errors import (
    ConfigError,
    MistralRejectedError,
    MistralUnavailableError,
    PipelineError,
    RateLimitedError,
    UnsupportedContentError,
)
from pipeline.mistral.ratelimit import RateLimiter
from pipeline.mistral.retry import make_retrying, parse_retry_after
from pipeline.mistral.wire import (
    ChatMessage,
    ChatModerationRequest,
    ConfidenceGranularity,
    Document,
    DocumentURLChunk,
    ImageURLChunk,
    ModelList,
    ModerationRequest,
    ModerationResponse,
    OcrRequest,
    OcrResponse,
    TableFormat,
    summarize_error,
)
from pipeline.settings import LOCAL_API

if TYPE_CHECKING:
    from types import TracebackType

    from pipeline.settings import MistralSettings

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

LOCAL_BASE_URL = "http://localapi"
"""Base URL of the in-process local API (any host works over ``httpx.ASGITransport``)."""
LOCAL_API_KEY = "modocr-local"
"""The bearer sent when no API key is configured (the local API accepts any bearer)."""
USER_AGENT = "modocr"
TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
"""Retried besides 429; other 5xx are too (a proxy's 520-529), except these two:"""
PERMANENT_5XX = frozenset({501, 505})


class _State(Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class MistralClient:
    """The Mistral API: OCR, moderation, models. Open once, close by leaving the block.

    ``async with MistralClient.open(settings, transport=..., limiter=...) as client:``
    """

    def __init__(
        self,
        settings: MistralSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> None:
        url = base_url or settings.resolved_base_url()
        if url == LOCAL_API:
            if transport is None:
                raise ConfigError(
                    "MODOCR_MISTRAL__BASE_URL=local needs the in-process API: use open_mistral()"
                )
            url = LOCAL_BASE_URL
        self._settings = settings
        self._base_url = url
        self._transport = transport
        self._limiter = (
            limiter if limiter is not None else RateLimiter.from_quota(settings.effective_quota())
        )
        self._retrying = make_retrying(settings)
        self._http: httpx.AsyncClient | None = None
        self._state = _State.UNOPENED

    @classmethod
    def open(
        cls,
        settings: MistralSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> Self:
        """A client to enter with ``async with``; *base_url* overrides the settings' one."""
        return cls(settings, transport=transport, limiter=limiter, base_url=base_url)

    def __repr__(self) -> str:
        key = "set" if self._settings.api_key is not None else "none"
        return (
            f"MistralClient(base_url={self._base_url!r}, state={self._state.value}, api_key={key})"
        )

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise RuntimeError(f"a MistralClient opens once; this one is {self._state.value}")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        # Without a key (the local API, in-process or `modocr emulator`) send the local bearer:
        # the local API wants one like the real API does.
        key = self._settings.api_key
        token = key.get_secret_value() if key is not None else LOCAL_API_KEY
        headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            timeout=httpx.Timeout(
                self._settings.timeout_s, connect=self._settings.connect_timeout_s
            ),
            limits=httpx.Limits(max_connections=self._settings.max_connections),
            transport=self._transport,
            event_hooks={"request": [_log_request], "response": [_log_response]},
        )
        await self._http.__aenter__()
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = _State.CLOSED
        if self._http is not None:
            await self._http.__aexit__(exc_type, exc, tb)

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter every request passes (its ``share`` is settable)."""
        return self._limiter

    @property
    def settings(self) -> MistralSettings:
        return self._settings

    # --- endpoints ---------------------------------------------------------------------

    async def ocr(
        self,
        document: Document,
        *,
        model: str | None = None,
        pages: str | list[int] | None = None,
        include_image_base64: bool = False,
        image_limit: int | None = 0,
        table_format: TableFormat | None = None,
        extract_header: bool = False,
        extract_footer: bool = False,
        include_blocks: bool = True,
        confidence_scores_granularity: ConfidenceGranularity | None = None,
    ) -> OcrResponse:
        """OCR a document (``POST /v1/ocr``); *pages* are 0-based, ``None`` is all.

        Raises:
            MistralRejectedError: the API refused the request or the document (4xx).
            MistralUnavailableError, RateLimitedError: still failing after the retries.
        """
        request = OcrRequest(
            model=model or self._settings.ocr_model,
            document=document,
            pages=pages,
            include_image_base64=include_image_base64,
            image_limit=image_limit,
            table_format=table_format,
            extract_header=extract_header,
            extract_footer=extract_footer,
            include_blocks=include_blocks,
            confidence_scores_granularity=confidence_scores_granularity,
        )
        return await self._call(
            "POST", "/v1/ocr", request.body(), OcrResponse, pages=count_pages(pages)
        )

    async def moderate(
        self, inputs: str | list[str], *, model: str | None = None
    ) -> ModerationResponse:
        """Classify texts (``POST /v1/moderations``): one result per input, same order."""
        request = ModerationRequest(model=model or self._settings.moderation_model, input=inputs)
        texts = [inputs] if isinstance(inputs, str) else inputs
        body = request.model_dump(mode="json", exclude_none=True)
        return await self._call(
            "POST", "/v1/moderations", body, ModerationResponse, tokens=estimate_tokens(texts)
        )

    async def moderate_chat(
        self,
        conversations: list[list[ChatMessage]] | list[ChatMessage],
        *,
        model: str | None = None,
    ) -> ModerationResponse:
        """Classify the last turn of each conversation (``POST /v1/chat/moderations``).

        A flat list of messages is one conversation (one result); a list of lists, one
        result per conversation.
        """
        request = ChatModerationRequest(
            model=model or self._settings.moderation_model, input=conversations
        )
        texts = [
            message.content
            for item in conversations
            for message in (item if isinstance(item, list) else [item])
        ]
        body = request.model_dump(mode="json", exclude_none=True)
        return await self._call(
            "POST", "/v1/chat/moderations", body, ModerationResponse, tokens=estimate_tokens(texts)
        )

    async def list_models(self) -> ModelList:
        """The models the key may use (``GET /v1/models``); aliases are cards of their own."""
        return await self._call("GET", "/v1/models", None, ModelList)

    # --- one request -------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        model: type[M],
        *,
        tokens: int = 0,
        pages: int = 0,
    ) -> M:
        """One idempotent call, retried by the stamina policy if it fails transiently."""
        return await self._retrying(self._request, method, path, body, model, tokens, pages)

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        model: type[M],
        tokens: int,
        pages: int,
    ) -> M:
        """One HTTP attempt: rate limit, send, translate failures, parse."""
        if self._http is None or self._state is not _State.OPEN:
            raise RuntimeError(f"the MistralClient is {self._state.value}; use `async with`")
        await self._limiter.acquire(tokens=tokens, pages=pages)
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise MistralUnavailableError(f"{method} {path}: {type(exc).__name__}") from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise MistralUnavailableError(f"{method} {path}: {type(exc).__name__}") from exc
        self._limiter.observe_headers(response.headers)
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise self._error(method, path, response) from exc
        try:
            result = model.model_validate_json(response.content)
        except ValidationError as exc:
            raise MistralUnavailableError(
                f"{method} {path}: malformed {response.status_code} body "
                f"({exc.error_count()} errors, first at {_first_loc(exc)})",
                status_code=response.status_code,
            ) from exc
        self._charge(result, tokens=tokens, pages=pages)
        return result

    def _error(self, method: str, path: str, response: httpx.Response) -> PipelineError:
        """The typed error of a non-2xx response; a 429 also blocks the rate limiter."""
        status = response.status_code
        summary = summarize_error(_json_or_none(response))
        text = f"Mistral {status} on {method} {path}: {summary.message or response.reason_phrase}"
        if status == httpx.codes.TOO_MANY_REQUESTS:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                retry_after = min(retry_after, self._settings.retry_after_cap_s)
            self._limiter.penalize(retry_after)
            return RateLimitedError(text, retry_after=retry_after, code=summary.code)
        if status in TRANSIENT_STATUSES or (
            httpx.codes.is_server_error(status) and status not in PERMANENT_5XX
        ):
            return MistralUnavailableError(text, status_code=status)
        return MistralRejectedError(
            text, status_code=status, code=summary.code, error_type=summary.error_type
        )

    def _charge(self, result: BaseModel, *, tokens: int, pages: int) -> None:
        """Correct the limiter's estimate with the usage the response reports."""
        if isinstance(result, ModerationResponse) and result.total_tokens is not None:
            self._limiter.record(tokens=result.total_tokens - tokens)
        elif isinstance(result, OcrResponse):
            self._limiter.record(pages=result.pages_processed - pages)


# --- documents -----------------------------------------------------------------------------


def document_from_bytes(
    data: bytes, mime_type: str, filename: str | None = None
) -> DocumentURLChunk | ImageURLChunk:
    """An inline document: a ``data:<mime>;base64,`` URI (nothing is stored at Mistral).

    ``image/*`` becomes an ``image_url`` chunk and ``application/*`` a ``document_url``
    chunk, as the API's validator requires.

    Raises:
        UnsupportedContentError: any other MIME type.
    """
    mime = mime_type.split(";", 1)[0].strip().lower()
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    if mime.startswith("image/"):
        return ImageURLChunk(image_url=uri)
    if mime.startswith("application/"):
        return DocumentURLChunk(document_url=uri, document_name=filename)
    raise UnsupportedContentError(f"the OCR API takes application/* or image/*, not {mime!r}")


def document_from_url(url: str) -> DocumentURLChunk | ImageURLChunk:
    """A document the API fetches itself (https), or an existing data URI."""
    if url.startswith("data:image/"):
        return ImageURLChunk(image_url=url)
    return DocumentURLChunk(document_url=url)


# --- estimates -----------------------------------------------------------------------------

CHARS_PER_TOKEN = 4
TOKENS_PER_INPUT = 16

_PAGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def estimate_tokens(texts: list[str]) -> int:
    """A prior for the tokens/min limiter: ~4 characters a token plus a per-input overhead."""
    return sum(len(text) // CHARS_PER_TOKEN + TOKENS_PER_INPUT for text in texts)


def count_pages(pages: str | list[int] | None) -> int:
    """Pages a request asks for (``"0,2-4"`` is 4); 1 when unknown (all pages)."""
    if pages is None:
        return 1
    if isinstance(pages, list):
        return max(len(set(pages)), 1)
    total = 0
    for part in pages.split(","):
        if (match := _PAGE_RANGE.match(part)) is None:
            return 1
        first, last = int(match[1]), int(match[2] or match[1])
        total += max(last - first + 1, 1)
    return max(total, 1)


# --- helpers -------------------------------------------------------------------------------


def _json_or_none(response: httpx.Response) -> object:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _first_loc(exc: ValidationError) -> str:
    errors = exc.errors(include_input=False, include_url=False)
    if not errors or not errors[0]["loc"]:
        return "body"
    return ".".join(str(part) for part in errors[0]["loc"])


async def _log_request(request: httpx.Request) -> None:
    # method and path only: headers carry the API key, bodies carry content
    logger.debug("mistral request %s %s", request.method, request.url.path)


async def _log_response(response: httpx.Response) -> None:
    logger.debug(
        "mistral response %s %s -> %d",
        response.request.method,
        response.request.url.path,
        response.status_code,
    )
