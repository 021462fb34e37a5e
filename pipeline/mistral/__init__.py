"""The async Mistral client every worker uses: typed calls, retries, rate limits, wire models."""

from __future__ import annotations

from pipeline.mistral.client import MistralClient, document_from_bytes, document_from_url
from pipeline.mistral.connect import open_mistral
from pipeline.mistral.ratelimit import RateLimiter
from pipeline.mistral.wire import (
    BatchOutputLine,
    ChatMessage,
    Document,
    DocumentURLChunk,
    FileChunk,
    ImageURL,
    ImageURLChunk,
    ModelCard,
    ModelList,
    ModerationResponse,
    ModerationResult,
    OcrPage,
    OcrResponse,
)

__all__ = [
    "BatchOutputLine",
    "ChatMessage",
    "Document",
    "DocumentURLChunk",
    "FileChunk",
    "ImageURL",
    "ImageURLChunk",
    "MistralClient",
    "ModelCard",
    "ModelList",
    "ModerationResponse",
    "ModerationResult",
    "OcrPage",
    "OcrResponse",
    "RateLimiter",
    "document_from_bytes",
    "document_from_url",
    "open_mistral",
]
