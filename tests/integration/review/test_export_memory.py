"""Exporting 10,000 flagged items streams: the server's memory stays flat, the rows match."""

from __future__ import annotations

import asyncio
import json
import logging
import tracemalloc
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.review import seed

if TYPE_CHECKING:
    from collections.abc import Coroutine, MutableMapping

    from fastapi import FastAPI

    from pipeline.db.engine import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]
logger = logging.getLogger(__name__)
COUNT = 10_000


class Sink:
    """An ASGI ``send`` that checks each JSONL line as it arrives and keeps none of them."""

    def __init__(self) -> None:
        self.status = 0
        self.bytes = 0
        self.lines = 0
        self.chunks = 0
        self.ids_sum = 0
        self.mismatches = 0
        self._partial = b""

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            return
        body: bytes = message.get("body", b"")
        self.bytes += len(body)
        self.chunks += 1
        data = self._partial + body
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            record = json.loads(line)
            self.lines += 1
            self.ids_sum += record["flag_id"]
            if "pii" not in record["categories"] or record["max_score"] < 0.6:
                self.mismatches += 1


async def export(app: FastAPI, query: str, token: str, sink: Sink) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/flagged/export",
        "raw_path": b"/api/v1/flagged/export",
        "query_string": query.encode(),
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "root_path": "",
    }
    sent = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # like a server: the client stays connected
        return {"type": "http.disconnect"}

    await app(scope, receive, sink)


async def traced(run: Coroutine[Any, Any, None]) -> int:
    """Run ``run`` under tracemalloc; return its peak allocation above the start (bytes)."""
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        await run
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


@pytest.mark.timeout(240)
async def test_export_of_10000_streams_with_flat_memory(app: FastAPI, database: Database) -> None:
    """Peak traced memory during the export stays far below the export's size."""
    tenant = seed.new_tenant()
    # 12,000 flags: 10,000 match (pii, score >= 0.6); 1,000 have another category and
    # 1,000 a lower score.
    specs = [
        seed.Spec(
            categories=("hate_and_discrimination",) if n % 12 == 0 else ("pii",),
            score=0.5 if n % 12 == 6 else 0.6 + (n % 40) / 100,
            content=None,
            created_at=seed.BASE_TIME,
        )
        for n in range(COUNT * 6 // 5)
    ]
    flag_ids = await seed.seed(database, tenant, specs)
    expected = [
        fid
        for fid, spec in zip(flag_ids, specs, strict=True)
        if "pii" in spec.categories and spec.score >= 0.6
    ]
    _, token = await seed.reviewer(database, "viewer")
    query = f"tenant={tenant}&category=pii&min_score=0.6&format=jsonl"

    # A first, small export: imports, compiled statements and pools are allocated here.
    await export(app, query.replace("min_score=0.6", "min_score=0.95"), token, Sink())
    small = Sink()
    small_growth = await traced(export(app, query.replace("0.6", "0.95"), token, small))
    sink = Sink()
    growth = await traced(export(app, query, token, sink))
    logger.info(
        "export: %d rows, %d bytes in %d chunks, peak growth %d bytes (%.1f%% of the body)",
        sink.lines,
        sink.bytes,
        sink.chunks,
        growth,
        100 * growth / sink.bytes,
    )
    print(  # noqa: T201 - shown with -s
        f"export {sink.lines} rows {sink.bytes} B: peak growth {growth} B; "
        f"{small.lines} rows {small.bytes} B: peak growth {small_growth} B"
    )
    assert sink.status == 200
    assert sink.lines == len(expected) == COUNT
    assert sink.ids_sum == sum(expected)
    assert sink.mismatches == 0
    assert sink.chunks > 1000  # streamed line by line, not one body
    assert small.lines * 5 < sink.lines
    assert growth < small_growth + 250_000  # flat: ten times the rows, about the same peak
    assert growth < sink.bytes / 4
