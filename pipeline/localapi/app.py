"""The local Mistral-compatible ASGI app: same routes, status codes and bodies as api.mistral.ai.

``LocalApi`` owns the FastAPI ``app``, the fault knobs, the request log and the lazily loaded
engines (moderation ~1 s, OCR ~3 s to load). CPU-bound engine work runs in worker threads; OCR is
bounded by a small semaphore so it does not oversubscribe the machine's cores.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, cast
from uuid import uuid4

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json

from pipeline.errors import UnsupportedContentError
from pipeline.localapi.faults import Faults, RateWindows
from pipeline.localapi.moderation import (
    CATEGORIES_2411,
    CATEGORIES_2603,
    ModerationEngine,
    ModerationInput,
    Verdict,
)
from pipeline.localapi.wire import (
    MODEL_CARDS,
    MODERATION_MODELS,
    OCR_MODELS,
    ApiError,
    ChatModerationRequest,
    ClassificationRequest,
    DocumentUrlChunk,
    FileChunk,
    ImageUrlChunk,
    OcrRequest,
    content_text,
    error_body,
    model_not_found,
    rate_limited,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

_CATEGORIES: Final = {
    "mistral-moderation-2411": CATEGORIES_2411,
    "mistral-moderation-2603": CATEGORIES_2603,
}
_BLOCK_MODELS: Final = frozenset({"mistral-ocr-4-0", "mistral-ocr-4-1"})
_TOKEN_OVERHEAD: Final = {"mistral-moderation-2411": 89}
"""Every 2411 capture shows ``total_tokens = prompt_tokens + 89``; 2603 has no capture."""
_RECORD_KEY: Final = "modocr.localapi.record"


def estimate_tokens(text: str) -> int:
    """Token estimate used for ``usage`` and the tokens/min limit: ``ceil(len(text) / 4)``."""
    return math.ceil(len(text) / 4)


_SERVER_ERROR_MESSAGES: Final = {
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


@dataclass
class RequestRecord:
    """One request as the local API saw it; appended on arrival, completed when answered.

    ``time`` is on the API's clock; ``retry_after`` is the ``Retry-After`` sent (seconds), if any.
    """

    time: float
    method: str
    path: str
    status: int | None = None
    model: str | None = None
    inputs: int | None = None
    tokens: int | None = None
    pages: int | None = None
    retry_after: int | None = None
    fault: str | None = None


class OcrPageLike(Protocol):
    """What the OCR engine returns per page (``pipeline.localapi.ocr.OcrPage``)."""

    @property
    def index(self) -> int: ...
    @property
    def markdown(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def dpi(self) -> int: ...


class OcrReader(Protocol):
    """The OCR engine interface (``pipeline.localapi.ocr.OcrEngine``)."""

    def read(
        self, data: bytes, mime_type: str, pages: list[int] | None
    ) -> Sequence[OcrPageLike]: ...


class ModerationClassifier(Protocol):
    """The moderation engine interface (``pipeline.localapi.moderation.ModerationEngine``)."""

    def classify(
        self, items: Sequence[ModerationInput], categories: Sequence[str]
    ) -> list[Verdict]: ...


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class LocalApi:
    """The local Mistral-compatible API: ``app`` plus its knobs, request log and engines.

    ``api_key=None`` accepts any non-empty bearer token. Engines load on first use unless
    given (tests may pass fakes).
    """

    def __init__(
        self,
        api_key: str | None = None,
        faults: Faults | None = None,
        *,
        ocr_max_pages: int = 1000,
        max_image_pixels: int = 40_000_000,
        ocr_concurrency: int = 2,
        moderation_thresholds: Mapping[str, float] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        ocr_engine: OcrReader | None = None,
        moderation_engine: ModerationClassifier | None = None,
        request_log_limit: int = 100_000,
    ) -> None:
        self.api_key = api_key
        self.request_log_limit = request_log_limit
        self.faults = faults if faults is not None else Faults()
        self.requests: list[RequestRecord] = []
        self.clock = clock
        self.sleep = sleep
        self.windows = RateWindows(clock)
        self.ocr_max_pages = ocr_max_pages
        self.max_image_pixels = max_image_pixels
        self.moderation_thresholds = dict(moderation_thresholds or {})
        self._urls: dict[str, tuple[bytes, str]] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._ocr = ocr_engine
        self._moderation = moderation_engine
        self._ocr_load = asyncio.Lock()
        self._moderation_load = asyncio.Lock()
        self._ocr_slots = asyncio.Semaphore(ocr_concurrency)
        self.app = create_app(self)

    def register_url(self, url: str, data: bytes, mime_type: str) -> None:
        """Serve ``data`` for an https ``document_url``/``image_url`` (there is no network)."""
        self._urls[url] = (data, mime_type)

    def register_file(self, file_id: str, data: bytes, mime_type: str) -> None:
        """Serve ``data`` for a ``{"type": "file", "file_id": ...}`` document."""
        self._files[file_id] = (data, mime_type)

    async def ocr_engine(self) -> OcrReader:
        """The OCR engine, loaded once in a worker thread on first use."""
        async with self._ocr_load:
            if self._ocr is None:
                # Imported lazily: loading RapidOCR takes seconds and must not run at import.
                module = importlib.import_module("pipeline.localapi.ocr")
                engine = await asyncio.to_thread(
                    module.OcrEngine,
                    max_pages=self.ocr_max_pages,
                    max_image_pixels=self.max_image_pixels,
                )
                self._ocr = cast("OcrReader", engine)
                logger.info("local OCR engine loaded")
            return self._ocr

    async def moderation_engine(self) -> ModerationClassifier:
        """The moderation engine, loaded once in a worker thread on first use."""
        async with self._moderation_load:
            if self._moderation is None:
                self._moderation = await asyncio.to_thread(
                    ModerationEngine, self.moderation_thresholds
                )
            return self._moderation

    # -- routes ---------------------------------------------------------------------------

    async def ocr(self, body: OcrRequest, request: Request) -> Response:
        """``POST /v1/ocr``."""
        record = _record(request)
        record.model = body.model
        model = OCR_MODELS.get(body.model or "mistral-ocr-latest")
        if model is None:
            raise model_not_found(body.model, "ocr")
        pages = body.page_indices
        decision = self.windows.check_pages(self.faults, len(pages) if pages else 1)
        if not decision.allowed:
            raise rate_limited(decision.retry_after)
        data, mime_type = self._document_bytes(body.document)
        engine = await self.ocr_engine()
        async with self._ocr_slots:
            try:
                read = await asyncio.to_thread(engine.read, data, mime_type, pages)
            except UnsupportedContentError as exc:
                raise ApiError(400, str(exc), "document_parser_invalid_file", "3740") from exc
        self.windows.charge_pages(self.faults, len(read))
        record.inputs = 1
        record.pages = len(read)
        blocks = bool(body.include_blocks)
        response = {
            "pages": [_ocr_page(page, model, include_blocks=blocks) for page in read],
            "model": model,
            "document_annotation": None,
            "usage_info": {"pages_processed": len(read), "doc_size_bytes": len(data)},
        }
        return await self._respond(request, response, pages=len(read))

    async def moderations(self, body: ClassificationRequest, request: Request) -> Response:
        """``POST /v1/moderations``: one result per input string."""
        texts = body.texts
        return await self._moderate(
            request, body.model, [ModerationInput(text) for text in texts], texts
        )

    async def chat_moderations(self, body: ChatModerationRequest, request: Request) -> Response:
        """``POST /v1/chat/moderations``: one result per conversation (its last turn in context)."""
        items: list[ModerationInput] = []
        all_texts: list[str] = []
        for conversation in body.conversations:
            texts = [content_text(message.content) for message in conversation]
            all_texts.extend(texts)
            items.append(ModerationInput(texts[-1] if texts else "", "\n".join(texts[:-1])))
        return await self._moderate(request, body.model, items, all_texts)

    async def _moderate(
        self, request: Request, requested: str, items: list[ModerationInput], texts: list[str]
    ) -> Response:
        record = _record(request)
        record.model = requested
        record.inputs = len(items)
        model = MODERATION_MODELS.get(requested)
        if model is None:
            raise model_not_found(requested, "moderation")
        tokens = sum(estimate_tokens(text) for text in texts)
        record.tokens = tokens
        decision = self.windows.admit_tokens(self.faults, tokens)
        if not decision.allowed:
            raise rate_limited(decision.retry_after)
        engine = await self.moderation_engine()
        verdicts = await asyncio.to_thread(engine.classify, items, _CATEGORIES[model])
        response = {
            "id": uuid4().hex,
            "usage": {
                "prompt_audio_seconds": None,
                "prompt_tokens": tokens,
                "total_tokens": tokens + _TOKEN_OVERHEAD.get(model, 0),
                "completion_tokens": 0,
                "request_count": 1,
                "prompt_token_details": None,
            },
            "model": model,
            "results": [{"category_scores": v.scores, "categories": v.flags} for v in verdicts],
        }
        return await self._respond(request, response)

    async def list_models(self, request: Request) -> Response:
        """``GET /v1/models``: every id and alias as its own card."""
        return await self._respond(request, {"object": "list", "data": list(MODEL_CARDS.values())})

    async def get_model(self, model_id: str, request: Request) -> Response:
        """``GET /v1/models/{model_id}``."""
        _record(request).model = model_id
        card = MODEL_CARDS.get(model_id)
        if card is None:
            raise ApiError(
                404, f"The model `{model_id}` does not exist.", "model_not_found", "3040"
            )
        return await self._respond(request, card)

    def _document_bytes(
        self, document: DocumentUrlChunk | ImageUrlChunk | FileChunk
    ) -> tuple[bytes, str]:
        if isinstance(document, FileChunk):
            found = self._files.get(document.file_id)
            if found is None:
                raise ApiError(404, f"File `{document.file_id}` not found.", "file_not_found")
            return found
        url = document.document_url if isinstance(document, DocumentUrlChunk) else document.url
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            mime_type = header[len("data:") :].split(";", 1)[0].lower()
            try:
                return base64.b64decode(payload, validate=True), mime_type
            except (binascii.Error, ValueError) as exc:
                raise ApiError(
                    400, "Document is not valid base64.", "document_parser_invalid_file", "3740"
                ) from exc
        found = self._urls.get(url)
        if found is None:
            raise ApiError(
                400, "document_url fetch is not available in the local API", "document_fetch_failed"
            )
        return found

    async def _respond(
        self, request: Request, body: Mapping[str, Any], *, pages: int = 0
    ) -> Response:
        """200 with ``body`` after the configured latency; truncated JSON at ``malformed_rate``."""
        delay = self.faults.latency_s(pages)
        if delay > 0:
            await self.sleep(delay)
        payload = to_json(body)  # pydantic-core's encoder: compact, UTF-8, ~5x json.dumps
        if self.faults.roll_malformed():
            _record(request).fault = "malformed"
            return Response(payload[: max(1, len(payload) // 2)], media_type="application/json")
        return Response(payload, media_type="application/json")


def _record(request: Request) -> RequestRecord:
    return cast("RequestRecord", request.scope[_RECORD_KEY])


def _ocr_page(page: OcrPageLike, model: str, *, include_blocks: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": page.index,
        "markdown": page.markdown,
        "images": [],
        "tables": [],
        "hyperlinks": [],
        "header": None,
        "footer": None,
        "dimensions": {"dpi": page.dpi, "height": page.height, "width": page.width},
        "confidence_scores": None,
    }
    if include_blocks:
        # OCR 4+ returns blocks; older models accept the flag and return an empty list.
        out["blocks"] = (
            [
                {
                    "type": "text",
                    "top_left_x": 0,
                    "top_left_y": 0,
                    "bottom_right_x": page.width,
                    "bottom_right_y": page.height,
                    "content": page.markdown,
                    "confidence_scores": None,
                }
            ]
            if model in _BLOCK_MODELS and page.markdown.strip()
            else []
        )
    else:
        out["blocks"] = None
    return out


# -- the gate: auth, request log, injected faults, rate-limit headers ------------------------


class _Gate:
    """ASGI middleware before the routes: bearer auth, request log, faults, 429s, headers."""

    def __init__(self, app: ASGIApp, api: LocalApi) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = self.api
        record = RequestRecord(time=api.clock(), method=scope["method"], path=scope["path"])
        if len(api.requests) >= api.request_log_limit:
            # A long emulator or benchmark run keeps the newest half, not everything.
            del api.requests[: len(api.requests) // 2 + 1]
        api.requests.append(record)
        scope[_RECORD_KEY] = record

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = list(message.get("headers", []))
                for name, value in headers:
                    if name.lower() == b"retry-after":
                        record.retry_after = int(value)
                known = {name.lower() for name, _ in headers}
                for name, value in api.windows.headers(api.faults).items():
                    if name.encode() not in known:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        early = await self._early_response(scope, record)
        if early is not None:
            await early(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    async def _early_response(self, scope: Scope, record: RequestRecord) -> Response | None:
        api = self.api
        if not self._authorized(scope):
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        faults = api.faults
        scheduled = faults.take_scheduled_failure(scope["path"])
        if scheduled is not None:
            record.fault = "scheduled"
            return _fault_response(scheduled.status, scheduled.retry_after)
        random_fault = await self._random_fault(scope, record)
        if random_fault is not None:
            return random_fault
        decision = api.windows.admit_request(faults)
        if not decision.allowed:
            return rate_limited(decision.retry_after).response()
        return None

    async def _random_fault(self, scope: Scope, record: RequestRecord) -> Response | None:
        """The knobs' dice, in order: a 5xx, a 429, a hang (that ends in a 504)."""
        faults = self.api.faults
        status = faults.roll_server_error()
        if status is not None:
            record.fault = "server_error"
            return _fault_response(status, None)
        retry_after = faults.roll_rate_limit()
        if retry_after is not None:
            record.fault = "rate_limited"
            return rate_limited(retry_after).response()
        if faults.roll_hang():
            record.fault = "hang"
            logger.debug("local API hangs %s for %.0f s", scope["path"], faults.hang_s)
            await self.api.sleep(faults.hang_s)
            return _fault_response(504, None)
        return None

    def _authorized(self, scope: Scope) -> bool:
        header = ""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                header = value.decode("latin-1")
                break
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.api.api_key is None or token == self.api.api_key


def _fault_response(status: int, retry_after: int | None) -> Response:
    if status == 429:  # noqa: PLR2004 - HTTP status
        return rate_limited(retry_after).response()
    message = _SERVER_ERROR_MESSAGES.get(status, "Injected failure")
    error_type = "server_error" if status >= 500 else "invalid_request_error"  # noqa: PLR2004
    return JSONResponse(error_body(status, message, error_type, None), status_code=status)


def create_app(api: LocalApi) -> FastAPI:
    """The FastAPI app of ``api`` (``LocalApi`` calls this; build a ``LocalApi`` instead)."""
    app = FastAPI(title="modocr local Mistral API", docs_url=None, redoc_url=None, openapi_url=None)

    async def on_api_error(_request: Request, exc: Exception) -> Response:
        return cast("ApiError", exc).response()

    app.add_exception_handler(ApiError, on_api_error)

    @app.post("/v1/ocr")
    async def ocr(body: OcrRequest, request: Request) -> Response:
        return await api.ocr(body, request)

    @app.post("/v1/moderations")
    async def moderations(body: ClassificationRequest, request: Request) -> Response:
        return await api.moderations(body, request)

    @app.post("/v1/chat/moderations")
    async def chat_moderations(body: ChatModerationRequest, request: Request) -> Response:
        return await api.chat_moderations(body, request)

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        return await api.list_models(request)

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str, request: Request) -> Response:
        return await api.get_model(model_id, request)

    app.add_middleware(_Gate, api=api)
    return app
