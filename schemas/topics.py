"""Default topic names and the schema of each topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from schemas.decisions import DECISION_ADAPTER
from schemas.dlq import DEAD_LETTER_ADAPTER
from schemas.documents import DOCUMENT_ADAPTER
from schemas.flagged import FLAGGED_ADAPTER
from schemas.posts import POST_ADAPTER

if TYPE_CHECKING:
    from pydantic import TypeAdapter

POSTS: Final = "modocr.posts"
DOCUMENTS: Final = "modocr.documents"
FLAGGED: Final = "modocr.flagged"
DECISIONS: Final = "modocr.decisions"
DLQ: Final = "modocr.dlq"

ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {
    POSTS: POST_ADAPTER,
    DOCUMENTS: DOCUMENT_ADAPTER,
    FLAGGED: FLAGGED_ADAPTER,
    DECISIONS: DECISION_ADAPTER,
    DLQ: DEAD_LETTER_ADAPTER,
}
"""Topic (default name) → the adapter that validates its messages."""
