"""Streamed export of flagged items as CSV or JSONL: one line per flag, references only.

Rows come from ``store.iter_flags`` in keyset chunks and leave as encoded lines at once, so
the server's memory does not grow with the size of the export. No content is exported.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Final, Literal

from fastapi.responses import StreamingResponse

from pipeline.review import store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pipeline.review.resources import Resources
    from pipeline.review.store import FlagFilters, FlagRow

ExportFormat = Literal["csv", "jsonl"]
COLUMNS: Final = (
    "flag_id",
    "item_id",
    "kind",
    "tenant",
    "source",
    "external_id",
    "content_sha256",
    "status",
    "categories",
    "max_score",
    "assignee",
    "version",
    "created_at",
    "updated_at",
)
MEDIA_TYPES: Final[dict[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _record(row: FlagRow) -> dict[str, object]:
    return {
        "flag_id": row.flag_id,
        "item_id": row.item_id,
        "kind": row.kind,
        "tenant": row.tenant,
        "source": row.source,
        "external_id": row.external_id,
        "content_sha256": row.content_sha256,
        "status": row.status,
        "categories": row.categories,
        "max_score": row.max_score,
        "assignee": row.assignee,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading quote (OWASP)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


async def encode_rows(rows: AsyncIterator[FlagRow], fmt: ExportFormat) -> AsyncIterator[bytes]:
    """The export body, one encoded line at a time (CSV starts with its header)."""
    if fmt == "csv":
        yield csv_line(list(COLUMNS)).encode()
        async for row in rows:
            record = _record(row)
            yield csv_line([_cell(record[c]) for c in COLUMNS]).encode()
        return
    async for row in rows:
        yield (json.dumps(_record(row), ensure_ascii=False) + "\n").encode()


def export_response(
    resources: Resources, filters: FlagFilters, fmt: ExportFormat, sort: str
) -> StreamingResponse:
    """The download of every flag matching ``filters`` (API and web UI alike).

    The filters are checked before streaming starts: once it has, the status is already sent.
    """
    store.validate_filters(filters, resources.retention)
    rows = store.iter_flags(
        resources.database.sessions, filters, sort=sort, retention=resources.retention
    )
    return StreamingResponse(
        encode_rows(rows, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="flagged.{fmt}"'},
    )
