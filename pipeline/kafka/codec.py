"""Bytes <-> schemas; the only place that touches record bytes.

Decode errors become ``InvalidMessageError`` whose text names fields and rules, never values
(so no payload leaks into logs or the DLQ reason).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import pydantic

from pipeline.errors import InvalidMessageError

if TYPE_CHECKING:
    from schemas.base import Message

T = TypeVar("T")

MAX_REASON_ERRORS = 5


def encode(message: Message) -> bytes:
    """The UTF-8 JSON of a message."""
    return message.model_dump_json().encode()


def decode(adapter: pydantic.TypeAdapter[T], raw: bytes | None) -> T:
    """Validate ``raw`` against a topic's adapter; ``InvalidMessageError`` when it does not fit."""
    if raw is None:
        raise InvalidMessageError("record has no value (tombstone)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessageError(f"record is not valid UTF-8 (byte {exc.start})") from None
    try:
        return adapter.validate_json(raw)
    except pydantic.ValidationError as exc:
        raise InvalidMessageError(describe(exc)) from None


def describe(exc: pydantic.ValidationError) -> str:
    """A short, value-free summary of a validation error."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False)[
        :MAX_REASON_ERRORS
    ]:
        where = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{where}: {error['type']}")
    more = exc.error_count() - MAX_REASON_ERRORS
    suffix = f" (+{more} more)" if more > 0 else ""
    return "schema violation: " + "; ".join(parts) + suffix


def peek_identity(raw: bytes | None) -> tuple[str | None, str | None, str | None]:
    """Best-effort (tenant, source, id) of a record that failed validation, for the failure row."""
    if not raw:
        return None, None, None
    try:
        value = pydantic.TypeAdapter(dict[str, object]).validate_json(raw)
    except pydantic.ValidationError:
        return None, None, None

    def text(key: str, default: str | None) -> str | None:
        found = value.get(key, default)
        return found[:256] if isinstance(found, str) and found else default

    return text("tenant", "default"), text("source", "default"), text("id", None)
