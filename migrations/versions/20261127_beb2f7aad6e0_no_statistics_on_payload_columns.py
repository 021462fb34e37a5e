"""no statistics on payload columns: ANALYZE skips the JSON documents and event texts

Revision ID: beb2f7aad6e0
Revises: 1e9d58f29e1a
Create Date: 2026-11-27 21:30:00

No query filters, joins or sorts on these columns, so the planner never reads their
statistics; gathering them is what ANALYZE (autovacuum's included) spends most of its time on
for verdicts: it sorts a sample of up to 30,000 JSON documents per column. PostgreSQL only:
SQLite's ANALYZE reads indexes, not columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "beb2f7aad6e0"
down_revision: str | Sequence[str] | None = "1e9d58f29e1a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAYLOAD_COLUMNS = {
    "items": ("metadata_json",),
    "verdicts": ("category_scores", "categories", "flagged_categories"),
    "document_pages": ("markdown",),
    "outbox": ("value", "headers"),
}


def _set_statistics(target: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in PAYLOAD_COLUMNS.items():
        alterations = ", ".join(f"ALTER COLUMN {c} SET STATISTICS {target}" for c in columns)
        op.execute(f"ALTER TABLE {table} {alterations}")


def upgrade() -> None:
    _set_statistics(0)


def downgrade() -> None:
    _set_statistics(-1)  # back to default_statistics_target
