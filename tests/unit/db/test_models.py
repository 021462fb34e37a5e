"""The ORM metadata: names follow the convention, types and keys are what migrations expect."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, UniqueConstraint, inspect, make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from pipeline.db import models
from pipeline.db.base import Base, UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
PG: Dialect = make_url("postgresql+asyncpg://").get_dialect()()
SQLITE: Dialect = make_url("sqlite+aiosqlite://").get_dialect()()
TABLES = {
    "items",
    "document_pages",
    "verdicts",
    "flags",
    "decisions",
    "reviewers",
    "outbox",
    "api_usage",
}


def test_metadata_holds_every_table() -> None:
    """The models define exactly the tables of design §5."""
    assert set(Base.metadata.tables) == TABLES


def test_constraint_and_index_names_follow_the_convention() -> None:
    """Every constraint and index is named pk_/uq_/ck_/fk_/ix_ plus its table."""
    for table in Base.metadata.sorted_tables:
        assert table.primary_key.name == f"pk_{table.name}"
        for constraint in table.constraints:
            prefix = {
                UniqueConstraint: "uq",
                CheckConstraint: "ck",
                ForeignKeyConstraint: "fk",
            }.get(type(constraint))
            if prefix is not None:
                assert str(constraint.name).startswith(f"{prefix}_{table.name}_")
        for index in table.indexes:
            assert str(index.name).startswith(f"ix_{table.name}_")


def test_composite_unique_names_list_every_column() -> None:
    """Multi-column unique constraints are named after all their columns."""
    names = {str(c.name) for c in Base.metadata.tables["items"].constraints}
    assert "uq_items_tenant_source_external_id" in names
    names = {str(c.name) for c in Base.metadata.tables["verdicts"].constraints}
    assert "uq_verdicts_item_id_page_index" in names


def test_verdict_scope_is_never_null() -> None:
    """page_index is NOT NULL (WHOLE_ITEM = -1), so the unique key really is unique."""
    column = models.Verdict.__table__.c.page_index
    assert not column.nullable
    assert models.WHOLE_ITEM == -1


def test_every_timestamp_is_utc_aware() -> None:
    """Every DateTime column uses UTCDateTime (timezone-aware, UTC out)."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith("_at"):
                assert isinstance(column.type, UTCDateTime), column


def test_relationships_raise_on_lazy_load() -> None:
    """No relationship loads implicitly (async sessions cannot)."""
    for mapper in Base.registry.mappers:
        for relationship in mapper.relationships:
            assert relationship.lazy == "raise", relationship


def test_flags_use_an_optimistic_lock() -> None:
    """Flag.version is SQLAlchemy's version_id_col."""
    mapper = inspect(models.Flag)
    assert mapper.version_id_col is models.Flag.__table__.c.version


@pytest.mark.parametrize("dialect", [PG, SQLITE], ids=["pg", "sqlite"])
def test_ddl_compiles_on_both_dialects(dialect: Dialect) -> None:
    """CREATE TABLE/INDEX compile for PostgreSQL and SQLite; ids are bigserial/INTEGER."""
    for table in Base.metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        for index in table.indexes:
            str(CreateIndex(index).compile(dialect=dialect))
        expected = "BIGSERIAL" if dialect.name == "postgresql" else "INTEGER"
        assert f"id {expected} NOT NULL" in ddl


def test_revisions_import_no_modocr_code() -> None:
    """Migrations stand alone: no import of pipeline (models change, revisions must not)."""
    for path in (MIGRATIONS / "versions").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("pipeline"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("pipeline") for a in node.names), path


def test_utc_datetime_stores_naive_utc_on_sqlite() -> None:
    """SQLite gets naive UTC; reading re-attaches UTC."""
    column_type = UTCDateTime()
    paris = timezone(timedelta(hours=2))
    value = datetime(2026, 5, 1, 12, 0, tzinfo=paris)
    stored = column_type.process_bind_param(value, SQLITE)
    assert stored == datetime(2026, 5, 1, 10, 0)  # noqa: DTZ001 - SQLite's storage form
    loaded = column_type.process_result_value(stored, SQLITE)
    assert loaded == value
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_utc_datetime_keeps_aware_values_on_postgresql() -> None:
    """PostgreSQL (timestamptz) gets aware UTC; results come back in UTC."""
    column_type = UTCDateTime()
    value = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    stored = column_type.process_bind_param(value, PG)
    assert stored is not None
    assert stored.tzinfo is UTC
    loaded = column_type.process_result_value(value, PG)
    assert loaded == value
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_utc_datetime_refuses_naive_values() -> None:
    """A naive datetime is a bug: it is refused, not guessed."""
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), SQLITE)  # noqa: DTZ001
