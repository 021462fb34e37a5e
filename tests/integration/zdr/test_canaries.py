"""Canaries through the real broker, the local Mistral API and both databases: ZDR keeps none."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
import typer
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from typer.testing import CliRunner

from pipeline.retention_cli import zdr_app
from pipeline.zdr import PLACES, CheckReport, make_canaries, run_check
from schemas.dlq import DEAD_LETTER_ADAPTER
from tests.kafka_fixtures import pipeline_settings, read_topic
from workers import REGISTRY

if TYPE_CHECKING:
    from pipeline.localapi.app import LocalApi
    from pipeline.settings import Settings, TopicSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

FAILING = {
    "oversized post",
    "corrupt pdf filename",
    "corrupt pdf bytes",
    "invalid record",
    "undecodable record",
    "non-json document record",
    "refused document url",
}
"""Canaries in inputs that are dead-lettered: never stored in the database, ZDR or not."""
DEAD_LETTERED = 6
"""Failing inputs (the corrupt PDF carries two canaries)."""


def reportlab_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in its (compressed) text layer, as producers make them."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.setFont("Helvetica", 14)
    page.drawString(72, 760, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


def check_settings(db_url: str, broker: str, topics: TopicSettings, *, zdr: bool) -> Settings:
    return pipeline_settings(db_url, broker, topics, zdr=zdr, limits={"max_text_chars": 2000})


async def run(settings: Settings, broker: str, local_api: LocalApi) -> CheckReport:
    return await run_check(
        settings, broker, list(REGISTRY.values()), local_api=local_api, pdf=reportlab_pdf
    )


async def test_zdr_keeps_no_canary_anywhere(
    db_url: str, broker: str, topics: TopicSettings, local_api: LocalApi
) -> None:
    """With ZDR on, no canary is in any row, DEBUG log record, output topic record or temp file."""
    report = await run(check_settings(db_url, broker, topics, zdr=True), broker, local_api)

    assert report.passed, "\n".join(report.lines())
    assert set(report.canaries) == set(PLACES)
    assert report.searched["database rows"] > 0
    assert report.searched["log records"] > 0
    dead = [
        DEAD_LETTER_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.dlq)
    ]
    assert len(dead) == DEAD_LETTERED
    assert all(d.payload_base64 is None for d in dead)
    flagged = await read_topic(broker, topics.flagged)
    assert flagged  # the insulting post and conversation are flagged: events were searched too
    assert report.searched["topic records"] == len(dead) + len(flagged)


async def test_without_zdr_the_same_run_finds_the_canaries(
    db_url: str, broker: str, topics: TopicSettings, local_api: LocalApi
) -> None:
    """With ZDR off the check fails: content canaries are in the DB (the scan can fail), the
    failed inputs' canaries in the DLQ payloads; the image canary proves OCR read the scan."""
    report = await run(check_settings(db_url, broker, topics, zdr=False), broker, local_api)

    assert not report.passed
    in_database = {f.place for f in report.findings if f.where.startswith("database ")}
    assert in_database == set(PLACES) - FAILING
    assert "scanned image" in in_database
    on_dlq = {f.place for f in report.findings if f.where.startswith(f"topic {topics.dlq}/")}
    assert on_dlq == FAILING
    assert report.lines()[-1].startswith(f"FAIL: {len(PLACES)} of {len(PLACES)} canaries found")


def test_canaries_differ_between_runs() -> None:
    """Each run makes new canaries, so an earlier run's data never counts as a find."""
    first, second = make_canaries(), make_canaries()
    assert not set(first.values()) & set(second.values())


@pytest.mark.timeout(300)
def test_zdr_check_command_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """`modocr zdr check`: embedded broker, fresh SQLite, local API; PASS and exit code 0."""
    monkeypatch.setenv("MODOCR_LIMITS__MAX_TEXT_CHARS", "2000")
    monkeypatch.delenv("MODOCR_DATABASE_URL", raising=False)
    app = typer.Typer()
    app.add_typer(zdr_app, name="zdr")
    result = CliRunner().invoke(app, ["zdr", "check"])
    assert result.exit_code == 0, result.output
    verdicts = [line for line in result.output.splitlines() if line.startswith(("PASS", "FOUND"))]
    assert verdicts[0].startswith(f"PASS: {len(PLACES)} canaries (ZDR on) found nowhere")
