"""``store_results`` on PostgreSQL: a batch's rows in one statement, one round trip.

The items, verdicts, pages, flags and outbox events of a batch go to the server as column
arrays, and one chain of data-modifying CTEs inserts them:

```
WITH src AS (SELECT * FROM unnest(<item columns>) WITH ORDINALITY AS src(…, n)),
     created AS (INSERT INTO items … SELECT … FROM src ON CONFLICT … RETURNING …),
     ids AS (SELECT created.id, src.n FROM created JOIN src USING (tenant, source, external_id)),
     verdicts AS (INSERT INTO verdicts … SELECT ids.id, … FROM unnest(…) JOIN ids ON …),
     …
SELECT n, id FROM ids
```

A child row names its item by the item's 1-based position in the batch (``n``); the join
swaps in the id the insert returned, so an item already processed (a redelivery) brings none
of its children, and a failed item replayed becomes processed with them. The flagged event's
``item_id`` is set the same way, with ``jsonb_set``.

One statement is atomic, so an item's results and its outbox event commit together, and
outside a transaction it is also the commit: the batch costs one round trip instead of
``BEGIN``, one ``INSERT`` per table and ``COMMIT``, and the server plans it once (the
statement text does not depend on the batch's size).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from pydantic_core import to_json
from sqlalchemy import JSON, text
from sqlalchemy.dialects import postgresql

from pipeline.db.base import utcnow
from pipeline.db.engine import translate_db_errors
from pipeline.db.models import DocumentPage, Flag, Item, Outbox, Verdict
from pipeline.db.queries import ITEM_KEY

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Column, Table, TextClause
    from sqlalchemy.ext.asyncio import AsyncSession

    from pipeline.db.base import Base

ITEM_COLUMNS = (
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
    "attempts",
    "content",
    "filename",
    "content_type",
    "metadata_json",
    "author",
    "source_topic",
    "source_partition",
    "source_offset",
    "reused_from_item_id",
)
"""The columns ``results._item_values`` gives."""

CHILD_COLUMNS: dict[type[Base], tuple[str, ...]] = {
    Verdict: (
        "page_index",
        "model",
        "policy_version",
        "category_scores",
        "categories",
        "flagged_categories",
        "flagged",
        "max_score",
    ),
    DocumentPage: (
        "page_index",
        "width",
        "height",
        "dpi",
        "text_sha256",
        "char_count",
        "markdown",
    ),
    Flag: ("status", "categories", "max_score", "version"),
    Outbox: ("event_id", "topic", "key", "value", "headers"),
}
"""The columns ``results._children`` gives for each table, besides ``item_id``."""

_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]

_STAMPED = ("created_at", "updated_at")
"""Columns with a Python-side ``utcnow`` default: the statement sets them to ``:now``."""


async def insert_batch(
    session: AsyncSession,
    items: Sequence[dict[str, Any]],
    children: dict[type[Base], list[tuple[int, dict[str, Any]]]],
) -> dict[int, int]:
    """Insert ``items`` (``ITEM_COLUMNS`` → value) and their ``children`` in one statement.

    A child is ``(position, row)``: its item's 1-based position in ``items`` and its
    ``CHILD_COLUMNS`` (an ``item_id`` in the row is ignored). The items' keys must be distinct.
    An item already processed is skipped with its children; a failed one is replaced. Returns
    the ids of the items stored, by position. Runs in the session's transaction, or commits on
    its own in autocommit.
    """
    params: dict[str, Any] = {"now": utcnow()}
    _columns_to_params(params, table_of(Item), ITEM_COLUMNS, items)
    for model, columns in CHILD_COLUMNS.items():
        pairs = children.get(model, [])
        params[f"{table_of(model).name}__n"] = [position for position, _ in pairs]
        _columns_to_params(params, table_of(model), columns, [row for _, row in pairs])
    with translate_db_errors():
        result = await session.execute(_statement(), params)
    return {int(n): int(item_id) for n, item_id in result.tuples()}


def _columns_to_params(
    params: dict[str, Any], table: Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    for name in columns:
        values = [row[name] for row in rows]
        if _is_json(table.c[name]):  # pydantic-core's encoder: ~5x faster than json.dumps
            values = [None if v is None else to_json(v).decode() for v in values]
        params[f"{table.name}__{name}"] = values


@functools.cache
def _statement() -> TextClause:
    items = table_of(Item)
    item_columns = ", ".join(ITEM_COLUMNS)
    ctes = [
        f"src AS (SELECT * FROM unnest({_arrays(items, ITEM_COLUMNS)}) "
        f"WITH ORDINALITY AS src({item_columns}, n))",
        f"created AS (INSERT INTO items ({item_columns}) "
        f"SELECT {_select_list(items, ITEM_COLUMNS, 'src')} FROM src ORDER BY n "
        # A failed item replayed (``modocr dlq replay``) becomes the processed item; a
        # processed one (a redelivery) stays as it is and brings no children.
        f"ON CONFLICT ({', '.join(ITEM_KEY)}) DO UPDATE SET "
        f"{', '.join(f'{c} = EXCLUDED.{c}' for c in ITEM_COLUMNS)}, error = NULL, "
        f"error_type = NULL WHERE items.status <> 'processed' "
        f"RETURNING id, {', '.join(ITEM_KEY)})",
        f"ids AS (SELECT created.id, src.n FROM created JOIN src USING ({', '.join(ITEM_KEY)}))",
    ]
    for model, columns in CHILD_COLUMNS.items():
        table = table_of(model)
        stamped = [c for c in _STAMPED if c in table.c]
        alias = f"{table.name}_rows"
        values = _select_list(table, columns, alias)
        if model is Outbox:  # the event names its item: set the id the insert returned
            values = values.replace(
                f"{alias}.value",
                f"CAST(jsonb_set(CAST({alias}.value AS JSONB), '{{item_id}}', "
                f"to_jsonb(ids.id)) AS TEXT)",
            )
        linked = ["item_id"] if "item_id" in table.c else []  # the outbox names no item
        now = ["CAST(:now AS TIMESTAMPTZ)"] * len(stamped)
        ctes.append(
            f"{table.name}_created AS (INSERT INTO {table.name} "
            f"({', '.join([*linked, *columns, *stamped])}) "
            f"SELECT {', '.join([*['ids.id'] * len(linked), values, *now])} "
            f"FROM unnest(CAST(:{table.name}__n AS BIGINT[]), {_arrays(table, columns)}) "
            f"AS {alias}(n, {', '.join(columns)}) JOIN ids USING (n))"
        )
    return text(f"WITH {', '.join(ctes)} SELECT n, id FROM ids")


def _arrays(table: Table, columns: Sequence[str]) -> str:
    """The parameters of ``columns``, one array each, typed as the columns are."""
    return ", ".join(
        f"CAST(:{table.name}__{name} AS {_array_type(table.c[name])})" for name in columns
    )


def _select_list(table: Table, columns: Sequence[str], alias: str) -> str:
    """The columns from the unnested arrays; JSON documents travel as text and are cast back."""
    return ", ".join(
        f"CAST({alias}.{name} AS JSONB)" if _is_json(table.c[name]) else f"{alias}.{name}"
        for name in columns
    )


def _array_type(column: Column[Any]) -> str:
    if _is_json(column):
        return "TEXT[]"
    return f"{column.type.compile(dialect=_POSTGRESQL)}[]"


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def table_of(model: type[Base]) -> Table:
    """The model's Core table."""
    return cast("Table", model.__table__)
