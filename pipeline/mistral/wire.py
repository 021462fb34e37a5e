"""Pydantic models of the Mistral wire format (reference: docs mistral-api.md).

Requests are strict (the service forbids unknown keys); responses are tolerant readers:
unknown fields are kept, optional fields may be missing or null, category maps are open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterator

T = TypeVar("T")


def _none_to_list(value: object) -> object:
    return [] if value is None else value


ListOrNull = Annotated[list[T], BeforeValidator(_none_to_list)]
"""A list the service may send as ``null``; read as ``[]``."""


class _Request(BaseModel):
    """Request bodies: the service answers 422 to unknown keys, so we never send any."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class _Response(BaseModel):
    """Response bodies: tolerant reader; unknown fields are kept, never fatal."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)


# --- OCR request ---------------------------------------------------------------------------


class DocumentURLChunk(_Request):
    """A document by https URL or ``data:application/<format>;base64,`` URI."""

    type: Literal["document_url"] = "document_url"
    document_url: str
    document_name: str | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # a data URI is content: keep it out of logs and tracebacks
        yield "document_url", _shorten(self.document_url)
        yield "document_name", self.document_name


class ImageURL(_Request):
    """The object form of ``image_url``."""

    url: str
    detail: Literal["low", "auto", "high"] | None = None


class ImageURLChunk(_Request):
    """An image by https URL or ``data:image/<format>;base64,`` URI."""

    type: Literal["image_url"] = "image_url"
    image_url: str | ImageURL

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        url = self.image_url if isinstance(self.image_url, str) else self.image_url.url
        yield "image_url", _shorten(url)


class FileChunk(_Request):
    """A file uploaded beforehand with ``purpose=ocr``."""

    type: Literal["file"] = "file"
    file_id: str


Document = Annotated[DocumentURLChunk | ImageURLChunk | FileChunk, Field(discriminator="type")]

TableFormat = Literal["markdown", "html"]
ConfidenceGranularity = Literal["page", "word", "block"]


class OcrRequest(_Request):
    """Body of ``POST /v1/ocr``; ``pages`` are 0-based (``"0-2,5"`` or ``[0, 1]``)."""

    model: str
    document: Document
    pages: str | list[int] | None = None
    include_image_base64: bool = False
    image_limit: int | None = 0
    table_format: TableFormat | None = None
    extract_header: bool = False
    extract_footer: bool = False
    include_blocks: bool = True
    confidence_scores_granularity: ConfidenceGranularity | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body; booleans are always sent (``include_blocks`` defaults differ)."""
        return self.model_dump(mode="json", exclude_none=True)


# --- OCR response --------------------------------------------------------------------------


class OcrImage(_Response):
    id: str
    top_left_x: int | None = None
    top_left_y: int | None = None
    bottom_right_x: int | None = None
    bottom_right_y: int | None = None
    image_base64: str | None = None
    image_annotation: str | None = None
    """A JSON-encoded string, not an object."""


class WordConfidence(_Response):
    text: str
    confidence: float
    start_index: int | None = None
    """Offset into the page markdown."""


class OcrTable(_Response):
    id: str
    content: str = ""
    format: str | None = None
    word_confidence_scores: list[WordConfidence] | None = None


class PageDimensions(_Response):
    dpi: int | None = None
    height: int | None = None
    width: int | None = None


class PageConfidence(_Response):
    average_page_confidence_score: float | None = None
    minimum_page_confidence_score: float | None = None
    word_confidence_scores: list[WordConfidence] | None = None


class BlockConfidence(_Response):
    average_content_confidence_score: float | None = None
    minimum_content_confidence_score: float | None = None
    block_type_confidence_score: float | None = None


class OcrBlock(_Response):
    """A paragraph-level block (OCR 4+); ``type`` is an open set (text, title, table, ...)."""

    type: str
    content: str | None = ""
    top_left_x: int | None = None
    top_left_y: int | None = None
    bottom_right_x: int | None = None
    bottom_right_y: int | None = None
    table_id: str | None = None
    image_id: str | None = None
    confidence_scores: BlockConfidence | None = None


class OcrPage(_Response):
    index: int
    markdown: str = ""
    images: ListOrNull[OcrImage] = Field(default_factory=list)
    tables: ListOrNull[OcrTable] = Field(default_factory=list)
    hyperlinks: ListOrNull[str] = Field(default_factory=list)
    header: str | None = None
    footer: str | None = None
    dimensions: PageDimensions | None = None
    confidence_scores: PageConfidence | None = None
    blocks: list[OcrBlock] | None = None


class OcrUsage(_Response):
    pages_processed: int = 0
    doc_size_bytes: int | None = None


class OcrResponse(_Response):
    """Body of a ``POST /v1/ocr`` answer; ``model`` is opaque (dated, alias or ``-completion``)."""

    pages: list[OcrPage]
    model: str | None = None
    document_annotation: str | None = None
    """A JSON-encoded string, not an object."""
    usage_info: OcrUsage | None = None

    @property
    def pages_processed(self) -> int:
        """Pages billed (what the pages/min limit counts); page count if usage is missing."""
        if self.usage_info is not None:
            return self.usage_info.pages_processed
        return len(self.pages)


# --- Moderation ----------------------------------------------------------------------------

MODERATION_CATEGORIES_2411: Final = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
)
"""``mistral-moderation-2411``'s category keys, in the service's order."""
MODERATION_CATEGORIES_2603: Final = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous",
    "criminal",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
    "jailbreaking",
)
"""``mistral-moderation-2603``'s category keys, in the service's order."""
KNOWN_MODERATION_CATEGORIES: Final = tuple(
    dict.fromkeys(MODERATION_CATEGORIES_2603 + MODERATION_CATEGORIES_2411)
)
"""Every category key either model returns (responses are still read as open maps)."""


class ChatMessage(_Request):
    """One chat turn; the moderation model classifies the last turn of a conversation."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    name: str | None = None
    tool_call_id: str | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # content is payload: never in logs or tracebacks
        yield "role", self.role
        yield "content", f"<{len(self.content)} chars>"


class ModerationRequest(_Request):
    """Body of ``POST /v1/moderations``: one result per input string, same order."""

    model: str
    input: str | list[str]


class ChatModerationRequest(_Request):
    """Body of ``POST /v1/chat/moderations``: one conversation or a list of them."""

    model: str
    input: list[ChatMessage] | list[list[ChatMessage]]


class ModerationResult(_Response):
    """The service's own booleans and its scores; both maps are open (keys vary per model)."""

    categories: dict[str, bool] = Field(default_factory=dict)
    category_scores: dict[str, float] = Field(default_factory=dict)


class ModerationUsage(_Response):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    request_count: int | None = None
    prompt_audio_seconds: float | None = None
    prompt_token_details: dict[str, Any] | None = None


class ModerationResponse(_Response):
    """Body of a moderation answer; ``model`` is the resolved (dated) id."""

    id: str
    model: str
    results: list[ModerationResult]
    usage: ModerationUsage | None = None

    @property
    def total_tokens(self) -> int | None:
        """Tokens billed (what the tokens/min limit counts), if the service said."""
        if self.usage is None:
            return None
        if self.usage.total_tokens is not None:
            return self.usage.total_tokens
        return self.usage.prompt_tokens


# --- Models --------------------------------------------------------------------------------


class ModelCapabilities(_Response):
    """Capability flags; the set grows over time, unknown ones are kept as extras."""

    completion_chat: bool | None = False
    vision: bool | None = False
    ocr: bool | None = False
    classification: bool | None = False
    moderation: bool | None = False


class ModelCard(_Response):
    """A base or fine-tuned model card; every alias is listed as its own card."""

    id: str
    object: str | None = "model"
    created: int | None = None
    owned_by: str | None = None
    capabilities: ModelCapabilities = Field(default_factory=ModelCapabilities)
    name: str | None = None
    description: str | None = None
    max_context_length: int | None = None
    aliases: ListOrNull[str] = Field(default_factory=list)
    deprecation: str | None = None
    deprecation_replacement_model: str | None = None
    default_model_temperature: float | None = None
    type: str | None = None


class ModelList(_Response):
    """Body of ``GET /v1/models``; a bare array (as the spec's example shows) is accepted."""

    object: str | None = "list"
    data: list[ModelCard]

    @model_validator(mode="before")
    @classmethod
    def _bare_array(cls, value: builtins.object) -> builtins.object:  # `object` is a field here
        if isinstance(value, list):
            return {"object": "list", "data": value}
        return value

    def ids(self) -> list[str]:
        """Every model id, aliases included."""
        return [card.id for card in self.data]


# --- Batch output --------------------------------------------------------------------------


class BatchLineResponse(_Response):
    status_code: int
    body: dict[str, Any] | None = None


class BatchOutputLine(_Response):
    """One line of a batch output (or error) file: ``{id, custom_id, response, error}``."""

    id: str | None = None
    custom_id: str | None = None
    response: BatchLineResponse | None = None
    error: Any = None

    def ocr_response(self) -> OcrResponse | None:
        """The OCR answer carried by this line, or ``None`` for a failed request."""
        if self.response is None or self.response.body is None or self.error is not None:
            return None
        return OcrResponse.model_validate(self.response.body)

    def moderation_response(self) -> ModerationResponse | None:
        """The moderation answer carried by this line, or ``None`` for a failed request."""
        if self.response is None or self.response.body is None or self.error is not None:
            return None
        return ModerationResponse.model_validate(self.response.body)


# --- Errors --------------------------------------------------------------------------------


class ErrorSummary(BaseModel):
    """What a lenient read of any error body (reference §7.2) yields; payload-free."""

    model_config = ConfigDict(frozen=True)

    message: str | None = None
    code: str | None = None
    error_type: str | None = None
    raw_status_code: int | None = None


MAX_ERROR_MESSAGE = 200


def summarize_error(data: object) -> ErrorSummary:
    """Read ``detail`` (list or string), ``message`` (string, object or list), ``type``,
    ``code`` (string or int) and ``raw_status_code`` from an error body, whatever its shape.

    Validation items contribute ``loc`` and ``msg`` only: their ``input`` echoes the
    request (document or text) and must never reach a log line or an exception.
    """
    if not isinstance(data, dict):
        return ErrorSummary()
    error = data.get("error")
    if isinstance(error, dict):  # guardrail envelope {"error": {"message", "status"}}
        data = {**error, **{k: v for k, v in data.items() if k != "error"}}
    message = _message_of(data.get("message")) or _message_of(data.get("detail"))
    code = data.get("code")
    error_type = data.get("type")
    raw = data.get("raw_status_code", data.get("status"))
    return ErrorSummary(
        message=message[:MAX_ERROR_MESSAGE] if message else None,
        code=str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None,
        error_type=error_type if isinstance(error_type, str) else None,
        raw_status_code=raw if isinstance(raw, int) and not isinstance(raw, bool) else None,
    )


def _message_of(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return _message_of(value.get("detail")) or _message_of(value.get("message"))
    if isinstance(value, list):
        parts = [part for item in value if (part := _validation_item(item))]
        return "; ".join(parts) or None
    return None


def _validation_item(item: object) -> str | None:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return None
    msg = item.get("msg") if isinstance(item.get("msg"), str) else item.get("message")
    if not isinstance(msg, str):
        return None
    loc = item.get("loc")
    if isinstance(loc, list) and loc:
        return ".".join(str(part) for part in loc) + ": " + msg
    return msg


def _shorten(url: str) -> str:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return f"{head},<{len(data)} chars>"
    return url
