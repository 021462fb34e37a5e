"""small statistics sample on the ingest tables: ANALYZE of items, verdicts, outbox ~10x cheaper

Revision ID: 7d2a4f6c8e15
Revises: 3c5e1d7a9b42
Create Date: 2026-11-28 00:40:00

Every message adds rows to ``items``, ``verdicts`` and ``outbox``, so autovacuum analyzes them
again and again while the daemon runs. ANALYZE samples 300 rows per unit of the largest
statistics target: 30,000 rows at the default 100. The queries on these tables are lookups by
unique keys and hashes, joins on ids, a status and a time range; a target of 10 (3,000 rows,
an MCV list and a histogram of 10) still plans them on the indexes meant for them (checked
with EXPLAIN ANALYZE on 40,000 bench items: the unique index for redeliveries, the hash index
for dedupe, the ``(published_at, id)`` index for the relay's claim).

Measured on those 40,000 items: ANALYZE items 149-212 ms → 18 ms, verdicts 89-115 ms → 15 ms,
outbox 12 ms → 11 ms. Each ANALYZE took a core away from the pipeline for its duration: in
the ``latency`` benchmark (whose harness analyzes as autovacuum would) the seconds with an
ANALYZE were the slow ones, and three runs with these targets gave p99 284, 313 and 298 ms
against 250-934 ms (mostly 340-430) without. ``flags`` and the other tables, which the review
queries filter and sort, keep the default. The payload columns stay at 0. PostgreSQL only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "7d2a4f6c8e15"
down_revision: str | Sequence[str] | None = "3c5e1d7a9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGET = 10

SAMPLED_COLUMNS = {
    "items": (
        "id",
        "kind",
        "tenant",
        "source",
        "external_id",
        "content_sha256",
        "content_size",
        "page_count",
        "received_at",
        "processed_at",
        "status",
        "error",
        "error_type",
        "attempts",
        "filename",
        "content_type",
        "author",
        "source_topic",
        "source_partition",
        "source_offset",
        "content_purged_at",
        "reused_from_item_id",
    ),
    "verdicts": (
        "id",
        "item_id",
        "page_index",
        "model",
        "policy_version",
        "flagged",
        "max_score",
        "created_at",
    ),
    "outbox": ("id", "event_id", "topic", "key", "created_at", "published_at"),
}
"""Every column of the three tables but the payload ones (statistics 0 since beb2f7aad6e0 and
3c5e1d7a9b42)."""


def _set_statistics(target: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in SAMPLED_COLUMNS.items():
        alterations = ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in columns)
        op.execute(f"ALTER TABLE {table} {alterations}")


def upgrade() -> None:
    _set_statistics(TARGET)


def downgrade() -> None:
    _set_statistics(-1)  # back to default_statistics_target
