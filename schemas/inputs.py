"""Fields shared by the two input topics (posts and documents): who sent what, from where."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from schemas.base import ID_MAX, Message

MetadataValue = str | int | float | bool | None
METADATA_MAX_KEYS = 32


class InputMessage(Message):
    """An item a producer asks modocr to moderate; ``(tenant, source, id)`` identifies it."""

    id: str = Field(
        min_length=1,
        max_length=ID_MAX,
        description="The producer's id for this item; a redelivered message with the same "
        "(tenant, source, id) changes nothing.",
    )
    tenant: str = Field(
        default="default", min_length=1, max_length=ID_MAX, description="Customer or community."
    )
    source: str = Field(
        default="default",
        min_length=1,
        max_length=ID_MAX,
        description="Where the item comes from, e.g. 'forum', 'comments', 'chat', 'uploads'.",
    )
    author: str | None = Field(
        default=None, max_length=ID_MAX, description="The producer's id of the author, if any."
    )
    submitted_at: AwareDatetime | None = Field(
        default=None, description="When the user submitted the item (UTC, ISO-8601)."
    )
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict,
        max_length=METADATA_MAX_KEYS,
        description="Small free-form producer metadata (at most 32 keys); not kept under ZDR.",
    )
