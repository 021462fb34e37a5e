"""modocr's ORM models (design §5): items and their pages, verdicts, flags, the audit log,
reviewers, the transactional outbox and API usage.

Enumerated columns are short strings guarded by CHECK constraints (no native enums, so
adding a value is a one-line migration on both dialects). Relationships are ``lazy="raise"``:
load them with ``selectinload``. Under ZDR every payload column (``content``, ``markdown``,
``filename``, ``metadata_json``, ``author``, ``note``) stays NULL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.db.base import BIG_ID, Base, utcnow

ITEM_KINDS: Final = ("post", "document")
ITEM_STATUSES: Final = ("pending", "processed", "failed")
FLAG_STATUSES: Final = ("open", "upheld", "dismissed", "escalated")
DECISION_ACTIONS: Final = ("uphold", "dismiss", "escalate", "claim", "assign")
REVIEWER_ROLES: Final = ("viewer", "reviewer", "admin")

WHOLE_ITEM: Final = -1
"""``verdicts.page_index`` of a verdict on the whole item (pages are 0-based).

A sentinel rather than NULL: NULLs never collide in a UNIQUE constraint (PostgreSQL and
SQLite), so ``(item_id, NULL)`` could be stored twice and could not be an upsert target.
"""

NAME_LEN = 256
"""Longest tenant, source, producer id, reviewer name or model id (characters)."""


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """``CHECK (column IN (...))`` named ``ck_<table>_<column>`` by the naming convention."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class Item(Base):
    """One input message (a post or a document), keyed by the producer's (tenant, source, id)."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("tenant", "source", "external_id"),
        _one_of("kind", ITEM_KINDS),
        _one_of("status", ITEM_STATUSES),
        Index("ix_items_content_sha256", "content_sha256"),
        Index("ix_items_status_received_at", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(NAME_LEN))
    source: Mapped[str] = mapped_column(String(NAME_LEN))
    external_id: Mapped[str] = mapped_column(String(NAME_LEN))
    """The producer's id of the message."""
    content_sha256: Mapped[str] = mapped_column(String(64))
    """Lowercase hex SHA-256 of the content (UTF-8 text, or the document's bytes)."""
    content_size: Mapped[int] = mapped_column(BigInteger)
    """Characters for a post, bytes for a document."""
    page_count: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    """A short reason when ``status`` is failed; ids only, never content."""
    error_type: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    content: Mapped[str | None] = mapped_column(Text)
    """Retained text (posts) or the pages' markdown joined; NULL under ZDR or after purge."""
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(255))
    metadata_json: Mapped[dict[str, Any] | None]
    """Free-form producer metadata; NULL under ZDR."""
    author: Mapped[str | None] = mapped_column(String(NAME_LEN))
    source_topic: Mapped[str | None] = mapped_column(String(255))
    source_partition: Mapped[int | None]
    source_offset: Mapped[int | None] = mapped_column(BigInteger)
    content_purged_at: Mapped[datetime | None]
    reused_from_item_id: Mapped[int | None] = mapped_column(
        BIG_ID, ForeignKey("items.id", ondelete="SET NULL")
    )
    """The earlier item with the same content whose results were reused (dedupe)."""

    pages: Mapped[list[DocumentPage]] = relationship(
        back_populates="item",
        lazy="raise",
        passive_deletes=True,
        order_by="DocumentPage.page_index",
    )
    verdicts: Mapped[list[Verdict]] = relationship(
        back_populates="item", lazy="raise", passive_deletes=True
    )
    flag: Mapped[Flag | None] = relationship(
        back_populates="item", lazy="raise", passive_deletes=True
    )


class DocumentPage(Base):
    """One page of a document: dimensions, a hash of its text, and its markdown unless ZDR."""

    __tablename__ = "document_pages"
    __table_args__ = (UniqueConstraint("item_id", "page_index"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("items.id", ondelete="CASCADE"))
    page_index: Mapped[int]
    """0-based, as in the OCR response."""
    width: Mapped[int]
    height: Mapped[int]
    dpi: Mapped[int | None]
    text_sha256: Mapped[str] = mapped_column(String(64))
    char_count: Mapped[int]
    markdown: Mapped[str | None] = mapped_column(Text)

    item: Mapped[Item] = relationship(back_populates="pages", lazy="raise")


class Verdict(Base):
    """What the moderation model said about an item or one page, and what the policy made of it."""

    __tablename__ = "verdicts"
    __table_args__ = (
        UniqueConstraint("item_id", "page_index"),
        CheckConstraint(f"page_index >= {WHOLE_ITEM}", name="page_index"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("items.id", ondelete="CASCADE"))
    page_index: Mapped[int] = mapped_column(default=WHOLE_ITEM, server_default=str(WHOLE_ITEM))
    """0-based page, or ``WHOLE_ITEM`` (-1) for a verdict on the whole item."""
    model: Mapped[str] = mapped_column(String(NAME_LEN))
    """The model id as the API returned it."""
    policy_version: Mapped[str] = mapped_column(String(64))
    category_scores: Mapped[dict[str, float]]
    categories: Mapped[dict[str, bool]]
    """The API's booleans per category."""
    flagged_categories: Mapped[list[str]]
    """Categories the policy flagged, sorted."""
    flagged: Mapped[bool]
    max_score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship(back_populates="verdicts", lazy="raise")


class Flag(Base):
    """A flagged item awaiting (or past) review; ``version`` is an optimistic lock."""

    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("item_id"),
        _one_of("status", FLAG_STATUSES),
        Index("ix_flags_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("items.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    categories: Mapped[list[str]]
    max_score: Mapped[float] = mapped_column(Float)
    assignee: Mapped[str | None] = mapped_column(String(NAME_LEN))
    version: Mapped[int] = mapped_column()
    """Incremented by SQLAlchemy on every UPDATE; a stale UPDATE raises ``StaleDataError``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    item: Mapped[Item] = relationship(back_populates="flag", lazy="raise")
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="flag", lazy="raise", order_by="Decision.id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read by SQLAlchemy


class Decision(Base):
    """Append-only audit log of what reviewers did to flags; rows are never updated or deleted."""

    __tablename__ = "decisions"
    __table_args__ = (
        _one_of("action", DECISION_ACTIONS),
        Index("ix_decisions_flag_id_id", "flag_id", "id"),
        Index("ix_decisions_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    flag_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("flags.id"))
    item_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("items.id"))
    reviewer: Mapped[str] = mapped_column(String(NAME_LEN))
    """The reviewer's name (kept even after the reviewer is revoked)."""
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    status_before: Mapped[str] = mapped_column(String(16))
    status_after: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    flag: Mapped[Flag] = relationship(back_populates="decisions", lazy="raise")


class Reviewer(Base):
    """Someone who may use the review UI, API or CLI; only a hash of their token is stored."""

    __tablename__ = "reviewers"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("token_hash"),
        _one_of("role", REVIEWER_ROLES),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Outbox(Base):
    """An event to publish, written in the same transaction as the results it announces.

    ``value`` is the message as JSON text; the relay publishes rows whose ``published_at``
    is NULL, in ``id`` order, at least once; consumers dedupe on ``event_id``.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_outbox_published_at_id", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class ApiUsage(Base):
    """Mistral API usage per UTC day, model and tenant (``''``: not attributed to a tenant)."""

    __tablename__ = "api_usage"
    __table_args__ = (UniqueConstraint("day", "model", "tenant"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    model: Mapped[str] = mapped_column(String(NAME_LEN))
    tenant: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    requests: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    pages: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    estimated_cost: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    """Estimated cost in US dollars (a float: an estimate, not accounting)."""
