"""ZDR with the Files or Batch API configured fails at start with one clear line (exit code 2)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ConfigError
from pipeline.settings import load_settings


@pytest.mark.parametrize("api", ["use_files_api", "use_batch_api"])
def test_load_settings_refuses_storage_apis_under_zdr(api: str) -> None:
    """load_settings raises ConfigError with one line naming both settings."""
    with pytest.raises(ConfigError) as raised:
        load_settings(zdr=True, mistral={api: True})
    message = str(raised.value)
    assert "\n" not in message
    assert "MODOCR_ZDR=true forbids the Files and Batch APIs" in message
    assert "USE_FILES_API/USE_BATCH_API" in message


@pytest.mark.parametrize("api", ["use_files_api", "use_batch_api"])
def test_without_zdr_the_storage_apis_are_allowed(api: str) -> None:
    """Only the combination with ZDR is refused."""
    assert getattr(load_settings(zdr=False, mistral={api: True}).mistral, api)


@pytest.mark.parametrize("env", ["MODOCR_MISTRAL__USE_FILES_API", "MODOCR_MISTRAL__USE_BATCH_API"])
def test_config_show_exits_2_with_one_line(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`modocr config show` under ZDR + a storage API: exit code 2 and a one-line error."""
    monkeypatch.setenv("MODOCR_ZDR", "true")
    monkeypatch.setenv(env, "true")
    monkeypatch.setenv("COLUMNS", "400")  # rich would wrap the line at 80 columns
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("configuration error:")
    assert "MODOCR_ZDR=true forbids the Files and Batch APIs" in lines[0]
