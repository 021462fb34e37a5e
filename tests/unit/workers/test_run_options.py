"""``modocr run --worker`` and the database pool a worker process opens."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.settings import load_settings, pool_size_for


@pytest.mark.parametrize("workers", ["nope", "moderation,nope", ",", ""])
def test_run_refuses_unknown_workers(workers: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown name (alone or in a list) exits 2 before anything starts, naming the choices."""
    monkeypatch.setenv("COLUMNS", "400")
    result = CliRunner().invoke(app, ["run", "--worker", workers])
    assert result.exit_code == 2
    assert "--worker must be one of moderation, ocr, relay, purge, all" in result.output


def test_pool_covers_every_handler_slot() -> None:
    """By default two connections per moderation slot, one per OCR slot, plus four; the
    setting wins."""
    settings = load_settings(worker={"moderation_concurrency": 8, "ocr_concurrency": 3})
    assert pool_size_for(settings) == 2 * 8 + 3 + 4
    assert pool_size_for(settings.model_copy(update={"database_pool_size": 5})) == 5
