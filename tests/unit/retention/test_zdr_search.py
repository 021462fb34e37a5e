"""The self-check's parts: canaries, the search (plain, any case, inside base64), inputs, logs."""

from __future__ import annotations

import base64
import json
import logging

import pypdfium2

from pipeline.kafka.codec import decode
from pipeline.settings import TopicSettings
from pipeline.zdr.canaries import (
    CANARY_ALPHABET,
    CANARY_PREFIX,
    PLACES,
    find_canaries,
    make_canaries,
)
from pipeline.zdr.inputs import canary_records, text_layer_pdf
from pipeline.zdr.report import CheckReport, Finding
from pipeline.zdr.traces import WIRE_TRACE_LOGGERS, capture_logs
from schemas.documents import DOCUMENT_ADAPTER
from schemas.posts import POST_ADAPTER

CANARIES = {"a": "ZDRACDEFHJKLM", "b": "ZDRNPRTUVWXYA"}
TOPICS = TopicSettings()


def test_canaries_are_unique_and_ocr_friendly() -> None:
    """One canary per place, from an alphabet without look-alike characters."""
    canaries = make_canaries()
    assert list(canaries) == list(PLACES)
    assert len(set(canaries.values())) == len(PLACES)
    for canary in canaries.values():
        assert canary.startswith(CANARY_PREFIX)
        assert set(canary.removeprefix(CANARY_PREFIX)) <= set(CANARY_ALPHABET)


def test_find_canaries_in_text_any_case() -> None:
    """A canary is found verbatim or in another case; absent ones are not reported."""
    assert find_canaries("row: zdracdefhjklm.", CANARIES) == ["a"]
    assert find_canaries(b"nothing here", CANARIES) == []


def test_find_canaries_inside_nested_base64() -> None:
    """A DLQ payload (base64 of a record whose data is base64) is searched inside."""
    inner = base64.b64encode(b"%PDF-1.7 ZDRNPRTUVWXYA").decode()
    record = json.dumps({"data_base64": inner}).encode()
    event = json.dumps({"payload_base64": base64.b64encode(record).decode()})
    assert find_canaries(event, CANARIES) == ["b"]


def test_text_layer_pdf_is_read_by_pdfium() -> None:
    """The hand-made PDF has the canary in its text layer (no reportlab at run time)."""
    pdf = pypdfium2.PdfDocument(text_layer_pdf("Reference ZDRACDEFHJKLM (paid)"))
    try:
        text = pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()
    assert "Reference ZDRACDEFHJKLM (paid)" in text


def test_canary_records_put_every_canary_in_an_input() -> None:
    """Each canary is in some record; valid ones decode, the invalid ones do not."""
    canaries = make_canaries()
    records = canary_records(canaries, TOPICS, tenant="t", max_text_chars=100)
    everything = b"\n".join(value for _, _, value, _ in records)
    assert set(find_canaries(everything, canaries)) == set(PLACES) - {"scanned image"}
    posts = [value for topic, _, value, _ in records if topic == TOPICS.posts]
    documents = [value for topic, _, value, _ in records if topic == TOPICS.documents]
    assert len(posts) == 5
    assert len(documents) == 5
    oversized = decode(POST_ADAPTER, posts[2])
    assert len(oversized.text) == 101  # type: ignore[union-attr]
    assert decode(DOCUMENT_ADAPTER, documents[0]).filename == canaries["document filename"] + ".pdf"


def test_capture_logs_sees_debug_and_restores_levels() -> None:
    """Every logger is captured at DEBUG for the run; levels and wire-trace caps are restored."""
    quiet = logging.getLogger("tests.zdr.quiet")
    quiet.setLevel(logging.WARNING)
    wire = logging.getLogger(next(iter(WIRE_TRACE_LOGGERS)))
    before = (logging.getLogger().level, quiet.level, wire.level)
    with capture_logs() as lines:
        quiet.debug("seen %s", "ZDRACDEFHJKLM")
        wire.debug("raw frame")
    assert lines == ["DEBUG tests.zdr.quiet: seen ZDRACDEFHJKLM"]
    assert (logging.getLogger().level, quiet.level, wire.level) == before


def test_report_lines() -> None:
    """PASS with what was searched, or one FOUND line per finding and a FAIL summary."""
    passed = CheckReport(canaries=CANARIES, zdr=True, searched={"database rows": 3})
    assert passed.lines() == ["PASS: 2 canaries (ZDR on) found nowhere; searched 3 database rows"]
    failed = CheckReport(
        canaries=CANARIES,
        zdr=False,
        findings=[Finding("a", "database items.content (id=1)")],
        searched={"database rows": 3},
    )
    assert failed.lines() == [
        "FOUND: a canary in database items.content (id=1)",
        "FAIL: 1 of 2 canaries found (ZDR off); searched 3 database rows",
    ]
