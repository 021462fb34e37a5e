"""What a worker sees of a Kafka record: our own frozen types, no aiokafka ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One record as read from the broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def position(self) -> str:
        """``topic/partition@offset``, for logs and error reasons."""
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """A record and the message it decoded to."""

    delivery: Delivery
    message: T
    attempts: int = field(default=1, compare=False)
