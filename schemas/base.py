"""The base of every message on modocr's topics: frozen, tolerant of unknown fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ID_MAX = 256
"""Longest producer id, tenant or source accepted (characters)."""


def new_event_id() -> str:
    """A fresh, globally unique event id (32 lowercase hex characters)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Message(BaseModel):
    """Frozen; unknown fields are ignored so producers and consumers can deploy in any order.

    Fields are only ever added, as optional; a breaking change is a new ``schema_version``
    or a new topic.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    schema_version: int = Field(default=1, description="Version of this message's schema.")


class Event(Message):
    """A message modocr itself writes: it carries a stable id consumers dedupe on."""

    event_id: str = Field(
        default_factory=new_event_id,
        min_length=1,
        max_length=64,
        description="Stable id of this event; republished copies keep it. Dedupe on it.",
    )
    occurred_at: AwareDatetime = Field(
        default_factory=utcnow, description="When the event happened (UTC, ISO-8601)."
    )
