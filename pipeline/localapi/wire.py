"""The wire contract of the local Mistral-compatible API: strict request models, model ids, errors.

Request models mirror the 2026-08 OpenAPI document (``OCRRequest``, ``ClassificationRequest``,
``ChatModerationRequest``; unknown keys: 422 ``extra_forbidden``). Also here: the model ids and
``/v1/models`` cards, and the 2026 error envelope. Responses are plain dicts built in ``app.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, cast

from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

_PAGES_RE = re.compile(r"^\s*\d+\s*(?:-\s*\d+\s*)?(?:,\s*\d+\s*(?:-\s*\d+\s*)?)*$")
_DATA_DOC_RE = re.compile(r"^data:application/[\w.+-]+;base64,", re.IGNORECASE)
_DATA_IMAGE_RE = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JsonSchema(_Strict):
    """``ResponseFormat.json_schema``."""

    name: str
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool = False


class ResponseFormat(_Strict):
    """Annotation formats; accepted and validated, not acted on by the local engines."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchema | None = None


class DocumentUrlChunk(_Strict):
    """A document by https URL or ``data:application/<fmt>;base64,`` URI."""

    type: Literal["document_url"] = "document_url"
    document_url: str
    document_name: str | None = None


class ImageUrl(_Strict):
    """The object form of ``image_url``."""

    url: str
    detail: Literal["low", "auto", "high"] | None = None


class ImageUrlChunk(_Strict):
    """An image by https URL or ``data:image/<fmt>;base64,`` URI (string or object form)."""

    type: Literal["image_url"] = "image_url"
    image_url: str | ImageUrl

    @property
    def url(self) -> str:
        return self.image_url if isinstance(self.image_url, str) else self.image_url.url


class FileChunk(_Strict):
    """A document uploaded through the Files API."""

    type: Literal["file"] = "file"
    file_id: str


def _document_kind(value: object) -> str | None:
    """Pick the chunk variant from ``type`` or, when omitted, from the keys present."""
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str):
            return kind
        for key in ("document_url", "image_url", "file"):
            if key in value or (key == "file" and "file_id" in value):
                return key
        return None
    if isinstance(value, BaseModel):
        return str(getattr(value, "type", ""))
    return None


Document = Annotated[
    Annotated[DocumentUrlChunk, Tag("document_url")]
    | Annotated[ImageUrlChunk, Tag("image_url")]
    | Annotated[FileChunk, Tag("file")],
    Discriminator(_document_kind),
]


def parse_pages(value: str | list[int] | None) -> list[int] | None:
    """``"0,2-4"`` or ``[0, 2, 3, 4]`` → sorted unique 0-based indices; ``None`` means all pages."""
    if value is None:
        return None
    if isinstance(value, str):
        if not _PAGES_RE.match(value):
            raise ValueError("pages must look like '0,2-4' (0-based page indices)")
        indices: set[int] = set()
        for part in value.split(","):
            first, _, last = part.partition("-")
            start = int(first)
            end = int(last) if last.strip() else start
            if end < start:
                raise ValueError(f"page range {part.strip()!r} is reversed")
            indices.update(range(start, end + 1))
        return sorted(indices)
    if any(index < 0 for index in value):
        raise ValueError("page indices are 0-based and must be >= 0")
    return sorted(set(value))


class OcrRequest(_Strict):
    """``POST /v1/ocr`` body (``OCRRequest``)."""

    model: str | None
    document: Document
    pages: str | list[int] | None = None
    include_image_base64: bool | None = None
    image_limit: int | None = None
    image_min_size: int | None = None
    bbox_annotation_format: ResponseFormat | None = None
    document_annotation_format: ResponseFormat | None = None
    document_annotation_prompt: str | None = None
    table_format: Literal["markdown", "html"] | None = None
    extract_header: bool = False
    extract_footer: bool = False
    include_blocks: bool | None = None
    confidence_scores_granularity: Literal["page", "word", "block"] | None = None

    @field_validator("pages")
    @classmethod
    def _check_pages(cls, value: str | list[int] | None) -> str | list[int] | None:
        parse_pages(value)
        return value

    @model_validator(mode="after")
    def _check_document_url(self) -> OcrRequest:
        if isinstance(self.document, DocumentUrlChunk):
            url = self.document.document_url
            if not (url.startswith("https://") or _DATA_DOC_RE.match(url)):
                raise ValueError(
                    "Document content must be a URL (starting with 'https') or base64 encoded "
                    "document (starting with 'data:application/<format>;base64,...')"
                )
        if isinstance(self.document, ImageUrlChunk):
            url = self.document.url
            if not (url.startswith("https://") or _DATA_IMAGE_RE.match(url)):
                raise ValueError(
                    "Image content must be a URL (starting with 'https') or base64 encoded "
                    "image (starting with 'data:image/<format>;base64,...')"
                )
        return self

    @property
    def page_indices(self) -> list[int] | None:
        return parse_pages(self.pages)


class ClassificationRequest(_Strict):
    """``POST /v1/moderations`` body."""

    model: str
    input: str | list[str]
    metadata: dict[str, Any] | None = None

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


Content = str | list[dict[str, Any]]


def content_text(content: Content | None) -> str:
    """The text of a message content: the string, or its ``text`` chunks joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(
        str(chunk["text"]) for chunk in content if chunk.get("type") == "text" and "text" in chunk
    )


class SystemMessage(_Strict):
    role: Literal["system"]
    content: Content


class UserMessage(_Strict):
    role: Literal["user"]
    content: Content | None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[dict[str, Any]] | None = None
    prefix: bool = False


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: Content | None
    tool_call_id: str | None = None
    name: str | None = None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


class ChatModerationRequest(_Strict):
    """``POST /v1/chat/moderations`` body: one conversation or a list of conversations."""

    model: str
    input: list[Message] | list[Annotated[list[Message], Field(min_length=1)]] = Field(
        union_mode="left_to_right"
    )

    @property
    def conversations(self) -> list[list[Message]]:
        if not self.input:
            return []
        if isinstance(self.input[0], list):
            return cast("list[list[Message]]", list(self.input))
        return [cast("list[Message]", list(self.input))]


# -- model ids, errors, catalogue ------------------------------------------------------------

OCR_MODELS: Final = {
    "mistral-ocr-2512": "mistral-ocr-2512",
    "mistral-ocr-4-0": "mistral-ocr-4-0",
    "mistral-ocr-4-1": "mistral-ocr-4-1",
    "mistral-ocr-4": "mistral-ocr-4-1",
    "mistral-ocr-latest": "mistral-ocr-4-1",
}
"""Requested OCR id → resolved id (echoed as ``model``). Retired 2503/2505 are unknown."""
MODERATION_MODELS: Final = {
    "mistral-moderation-2411": "mistral-moderation-2411",
    "mistral-moderation-2603": "mistral-moderation-2603",
    "mistral-moderation-latest": "mistral-moderation-2603",
}
"""Requested moderation id → resolved dated id (echoed as ``model``)."""


def error_body(status: int, message: str, error_type: str, code: str | None) -> dict[str, Any]:
    """The 2026 error envelope.

    ``{"object": "error", "message", "type", "param", "code", "raw_status_code"}``.
    """
    return {
        "object": "error",
        "message": message,
        "type": error_type,
        "param": None,
        "code": code,
        "raw_status_code": status,
    }


class ApiError(Exception):
    """Raised inside a route; answered with the 2026 error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body = error_body(self.status, self.message, self.error_type, self.code)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def rate_limited(retry_after: int | None) -> ApiError:
    """429 ``rate_limited`` (code 1300) with ``Retry-After`` in whole seconds (at least 1)."""
    headers = {"Retry-After": str(max(1, retry_after or 1))}
    return ApiError(429, "Rate limit exceeded", "rate_limited", "1300", headers)


def model_not_found(model: str | None, router: str) -> ApiError:
    """404 ``model_not_found`` (code 3040), worded as the service words it."""
    return ApiError(
        404, f"The model `{model}` does not exist for router `{router}`.", "model_not_found", "3040"
    )


# -- model catalogue -------------------------------------------------------------------------

_CAPABILITIES: Final = (
    "completion_chat",
    "function_calling",
    "reasoning",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
    "audio_transcription",
    "audio_transcription_realtime",
    "audio_speech",
    "unified_resources",
)


def _released(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class _Model:
    name: str
    aliases: tuple[str, ...]
    kind: str
    released: int
    description: str
    deprecation: str | None = None
    replacement: str | None = None


_MODELS: Final = (
    _Model(
        "mistral-ocr-2512",
        (),
        "ocr",
        _released(2025, 12, 18),
        "OCR 3: tables, headers and footers.",
    ),
    _Model(
        "mistral-ocr-4-0",
        (),
        "ocr",
        _released(2026, 6, 23),
        "OCR 4.0: blocks and confidence scores.",
    ),
    _Model(
        "mistral-ocr-4-1",
        ("mistral-ocr-4", "mistral-ocr-latest"),
        "ocr",
        _released(2026, 7, 16),
        "OCR 4.1: block-level confidence.",
    ),
    _Model(
        "mistral-moderation-2411",
        (),
        "moderation",
        _released(2024, 11, 6),
        "Moderation, 9 categories.",
        deprecation="2026-03-31T12:00:00Z",
        replacement="mistral-moderation-2603",
    ),
    _Model(
        "mistral-moderation-2603",
        ("mistral-moderation-latest",),
        "moderation",
        _released(2026, 3, 17),
        "Moderation, 11 categories.",
    ),
)


def _cards() -> dict[str, dict[str, Any]]:
    cards: dict[str, dict[str, Any]] = {}
    for model in _MODELS:
        enabled = {"vision", "ocr"} if model.kind == "ocr" else {"classification", "moderation"}
        names = (model.name, *model.aliases)
        for card_id in names:
            cards[card_id] = {
                "id": card_id,
                "object": "model",
                "created": model.released,
                "owned_by": "mistralai",
                "capabilities": {cap: cap in enabled for cap in _CAPABILITIES},
                "name": model.name,
                "description": model.description,
                "max_context_length": 16384 if model.kind == "ocr" else 8192,
                "aliases": [name for name in names if name != card_id],
                "deprecation": model.deprecation,
                "deprecation_replacement_model": model.replacement,
                "default_model_temperature": 0.0 if model.kind == "ocr" else None,
                "type": "base",
            }
    return cards


MODEL_CARDS: Final = _cards()
"""``GET /v1/models`` cards by id (aliases included), in listing order."""
