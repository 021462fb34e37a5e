"""Retention decides what may be kept: nothing payload-like under ZDR, everything for a TTL else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.retention import Retention

ZDR = Retention(zdr=True, retention_days=30)
TTL = Retention(zdr=False, retention_days=30)


def test_zdr_keeps_no_payload() -> None:
    """Under ZDR text, filename, metadata, author and DLQ payload are all None."""
    assert ZDR.text("hello") is None
    assert ZDR.filename("cv.pdf") is None
    assert ZDR.metadata({"k": "v"}) is None
    assert ZDR.author("u-1") is None
    assert ZDR.payload(b"raw") is None


def test_without_zdr_payload_is_kept() -> None:
    """Without ZDR the values pass through; the DLQ payload is base64 for replay."""
    assert TTL.text("hello") == "hello"
    assert TTL.filename("cv.pdf") == "cv.pdf"
    assert TTL.metadata({"k": "v"}) == {"k": "v"}
    assert TTL.metadata({}) is None
    assert TTL.author("u-1") == "u-1"
    assert TTL.payload(b"raw") == base64.b64encode(b"raw").decode()


@pytest.mark.parametrize("days", [1, 30, 365])
def test_purge_before_is_now_minus_retention_days(days: int) -> None:
    """The cut-off is exactly ``retention_days`` before now."""
    now = datetime(2026, 1, 31, tzinfo=UTC)
    assert Retention(zdr=False, retention_days=days).purge_before(now) == now - timedelta(days=days)


def test_reason_is_bounded() -> None:
    """Error reasons are cut to 500 characters."""
    assert len(TTL.reason("x" * 2000)) == 500


def test_report_says_what_is_kept_where_and_how_long() -> None:
    """The ZDR report says content is never stored and the storage APIs are refused; the TTL
    report names the columns and the retention period."""
    zdr = {what: (where, kept) for what, where, kept in ZDR.report()}
    assert zdr["post text, conversation turns"][1] == "never stored"
    assert zdr["Files API / Batch API"] == ("Mistral", "refused at start")
    assert zdr["documents and rendered pages"][1] == "memory only, no temp files"
    ttl = {what: (where, kept) for what, where, kept in TTL.report()}
    assert ttl["post text, conversation turns"] == (
        "database (items.content)",
        "30 days, then purged",
    )
    assert ttl["ids, hashes, sizes, scores, categories, decisions"][1] == "kept"
