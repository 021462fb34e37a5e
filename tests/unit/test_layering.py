"""Imports flow schemas <- pipeline <- workers; only pipeline/cli.py imports workers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("schemas"), ids=str)
def test_schemas_depend_on_pydantic_only(path: Path) -> None:
    """schemas/ imports nothing of pipeline or workers."""
    assert not _imports(path) & {"pipeline", "workers", "sqlalchemy", "aiokafka", "httpx"}


@pytest.mark.parametrize("path", _modules("pipeline"), ids=str)
def test_pipeline_imports_workers_only_in_cli(path: Path) -> None:
    """Only pipeline/cli.py (and the demo it drives) may import workers."""
    if path.name in {"cli.py", "demo.py", "retention_cli.py"}:
        return
    assert "workers" not in _imports(path)


def test_only_the_kafka_package_imports_aiokafka() -> None:
    """aiokafka stays behind pipeline/kafka/."""
    offenders = [
        str(p)
        for package in ("pipeline", "workers", "schemas")
        for p in _modules(package)
        if "aiokafka" in _imports(p) and "kafka" not in p.parent.name
    ]
    assert offenders == []
