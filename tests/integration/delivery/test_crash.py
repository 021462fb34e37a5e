"""The crash test as part of the suite: 5,000 posts, 200 documents, 5 SIGKILLs, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[3]


def test_workers_killed_at_random_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """Every input one item and one verdict, every flag published once, offsets at the end."""
    completed = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable,
            str(ROOT / "scripts" / "crash_test.py"),
            "--posts=5000",
            "--documents=200",
            "--kills=5",
            f"--log-dir={tmp_path}",
        ],
        capture_output=True,
        check=False,
        timeout=580,
        cwd=ROOT,
    )
    assert completed.returncode in {0, 1}, completed.stderr.decode()[-3000:]
    report = json.loads(completed.stdout)
    assert report["checks"] == dict.fromkeys(report["checks"], True), report
    assert report["items"] == 5200
    assert len(report["kills"]) >= 5
    assert {kill["worker"] for kill in report["kills"]} == {"moderation", "ocr", "relay"}
