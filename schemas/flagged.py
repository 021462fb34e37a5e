"""Topic ``modocr.flagged``: an item the policy flagged, for downstream action.

References and scores only: never the content (so the topic is safe under ZDR).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, TypeAdapter

from schemas.base import Event


class FlaggedEvent(Event):
    """One flagged item. Keyed by ``tenant/source/external_id``; dedupe on ``event_id``."""

    kind: Literal["flagged"] = Field(default="flagged", description="Discriminator.")
    item_id: int = Field(description="modocr's id of the item (review API: /api/v1/flagged/{id}).")
    item_kind: Literal["post", "document"] = Field(description="What was moderated.")
    tenant: str = Field(description="The producer's tenant.")
    source: str = Field(description="The producer's source.")
    external_id: str = Field(description="The producer's id of the item.")
    content_sha256: str = Field(description="SHA-256 of the moderated content.")
    categories: list[str] = Field(description="Categories the policy flagged, sorted.")
    category_scores: dict[str, float] = Field(description="Every category's score, 0 to 1.")
    max_score: float = Field(description="Highest score among the flagged categories.")
    model: str = Field(description="The moderation model id the API returned.")
    policy_version: str = Field(description="The policy that turned scores into the flag.")
    pages: list[int] | None = Field(
        default=None, description="For documents: the 0-based pages whose text was flagged."
    )


FLAGGED_ADAPTER: TypeAdapter[FlaggedEvent] = TypeAdapter(FlaggedEvent)
