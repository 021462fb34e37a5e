"""What modocr may keep, where and for how long: the one place that decides (design §6).

Workers, the relay, the dead-letter path and the review views ask a ``Retention`` before they
store or publish anything that could be payload. Under ZDR the answer is always "nothing".
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.settings import Settings


@dataclass(frozen=True)
class Retention:
    """The retention rules in force: ZDR on or off, and the content TTL."""

    zdr: bool
    retention_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(zdr=settings.zdr, retention_days=settings.retention_days)

    def text(self, value: str | None) -> str | None:
        """User text or extracted markdown, as it may be stored: ``None`` under ZDR."""
        return None if self.zdr else value

    def filename(self, value: str | None) -> str | None:
        """A document's file name (it can identify a person): ``None`` under ZDR."""
        return None if self.zdr else value

    def metadata(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Free-form producer metadata: ``None`` under ZDR (and when empty)."""
        return None if self.zdr or not value else dict(value)

    def author(self, value: str | None) -> str | None:
        """The producer's author id: a personal identifier, ``None`` under ZDR."""
        return None if self.zdr else value

    def payload(self, raw: bytes | None) -> str | None:
        """A dead-lettered record's original bytes (base64) for replay; ``None`` under ZDR."""
        if self.zdr or raw is None:
            return None
        return base64.b64encode(raw).decode("ascii")

    def reason(self, value: str) -> str:
        """An error reason as it may be stored or published (already value-free by contract)."""
        return value[:500]

    def purge_before(self, now: datetime) -> datetime:
        """Content received before this instant must be removed."""
        return now - timedelta(days=self.retention_days)

    def report(self) -> list[tuple[str, str, str]]:
        """(what, where, for how long) rows for ``modocr config show``."""
        if self.zdr:
            kept = "never stored"
            return [
                ("post text, conversation turns", "database", kept),
                ("OCR markdown, filenames, metadata, authors", "database", kept),
                ("content in flagged/decision/DLQ events", "Kafka topics modocr writes", kept),
                ("documents and rendered pages", "disk", "memory only, no temp files"),
                ("ids, hashes, sizes, scores, categories, decisions", "database", "kept"),
                ("Files API / Batch API", "Mistral", "refused at start"),
            ]
        ttl = f"{self.retention_days} days, then purged"
        return [
            ("post text, conversation turns", "database (items.content)", ttl),
            ("OCR markdown per page", "database (document_pages.markdown)", ttl),
            ("filenames, metadata, authors", "database (items)", ttl),
            ("original records of failed inputs", "Kafka topic modocr.dlq", "topic retention"),
            ("content in flagged/decision events", "Kafka topics", "never: references only"),
            ("ids, hashes, sizes, scores, categories, decisions", "database", "kept"),
        ]
