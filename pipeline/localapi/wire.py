"""Strict request models of the local Mistral-compatible API (unknown keys: 422 extra_forbidden).

They mirror the 2026-08 OpenAPI document (``OCRRequest``, ``ClassificationRequest``,
``ChatModerationRequest``); responses are built as plain dicts in ``app.py`` to keep key order.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

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
