"""Topic ``modocr.dlq``: inputs modocr could not process, with the reason.

Under ZDR ``payload_base64`` is null: the record is a reference, never the content.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, TypeAdapter

from schemas.base import Event


class DeadLetter(Event):
    """A poison or exhausted message; ``modocr dlq replay`` re-submits it."""

    kind: Literal["dead_letter"] = Field(default="dead_letter", description="Discriminator.")
    worker: str = Field(description="The worker that gave up: moderation, ocr, relay.")
    source_topic: str = Field(description="Topic the message was read from.")
    partition: int = Field(description="Its partition.")
    offset: int = Field(description="Its offset.")
    key: str | None = Field(default=None, description="Its key, decoded as UTF-8 when possible.")
    error_type: str = Field(description="Class of the error, e.g. InvalidMessageError.")
    reason: str = Field(description="What was wrong, for a human; ids only under ZDR.")
    attempts: int = Field(ge=1, description="How many times it was tried.")
    tenant: str | None = Field(default=None, description="The item's tenant, when decodable.")
    source: str | None = Field(default=None, description="The item's source, when decodable.")
    external_id: str | None = Field(default=None, description="The producer's id, if decodable.")
    payload_base64: str | None = Field(
        default=None, description="The original record value (base64); null under ZDR."
    )
    payload_sha256: str = Field(description="SHA-256 of the original record value.")


DEAD_LETTER_ADAPTER: TypeAdapter[DeadLetter] = TypeAdapter(DeadLetter)
