"""Cursors, CSV cells, the SVG chart geometry, sign-in redirects, empty form fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.review.app import DropEmptyQueryParams
from pipeline.review.export import _cell, csv_line
from pipeline.review.pages import _safe_next, bar_chart
from pipeline.review.store import InvalidQueryError, decode_cursor, encode_cursor


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_created_at_cursors_round_trip(when: datetime, flag_id: int) -> None:
    """A cursor gives back the exact key and id it was made from."""
    assert decode_cursor("-created_at", encode_cursor("-created_at", when, flag_id)) == (
        when,
        flag_id,
    )


@given(st.floats(0, 1), st.integers(min_value=0, max_value=2**63 - 1))
def test_score_cursors_round_trip(score: float, flag_id: int) -> None:
    """Scores survive the JSON inside the cursor."""
    assert decode_cursor("max_score", encode_cursor("max_score", score, flag_id)) == (
        score,
        flag_id,
    )


@pytest.mark.parametrize(
    "cursor",
    ["", "!!", "e30", encode_cursor("max_score", 0.5, 1), encode_cursor("-created_at", 0.5, -1)],
)
def test_bad_cursors_are_invalid_queries(cursor: str) -> None:
    """Junk, an empty object, another sort's cursor or a negative id: InvalidQueryError."""
    with pytest.raises(InvalidQueryError):
        decode_cursor("-created_at", cursor)


def test_csv_cells_never_start_a_formula() -> None:
    """Spreadsheet formulas are defused; lists are joined; None is empty."""
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("-1") == "'-1"
    assert _cell(["a", "b"]) == "a;b"
    assert _cell(None) == ""
    assert csv_line(["a,b", 'c"d']) == '"a,b","c""d"\n'


def test_bar_chart_scales_to_the_peak() -> None:
    """The tallest bar fills the plot; empty input draws nothing."""
    chart = bar_chart({"2026-01-01": 2, "2026-01-02": 4})
    heights = [b["h"] for b in chart["bars"]]
    assert heights[1] == chart["height"] - 40
    assert heights[0] == heights[1] / 2
    assert bar_chart({})["bars"] == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/items/3", "/items/3"), ("//evil.test", "/"), ("https://evil.test", "/"), ("/\\x", "/")],
)
def test_sign_in_redirects_stay_on_site(target: str, expected: str) -> None:
    """Only local paths are followed after sign-in."""
    assert _safe_next(target) == expected


async def test_empty_form_fields_are_dropped_from_pages_only() -> None:
    """``?kind=&tenant=a`` reaches a page as ``tenant=a``; the API sees it unchanged."""
    seen: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["query_string"])

    middleware = DropEmptyQueryParams(app)  # type: ignore[arg-type]  # a minimal ASGI app
    for path in ("/", "/api/v1/flagged"):
        scope = {"type": "http", "path": path, "query_string": b"kind=&tenant=a"}
        await middleware(scope, None, None)  # type: ignore[arg-type]  # never called
    assert seen == [b"tenant=a", b"kind=&tenant=a"]
