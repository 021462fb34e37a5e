"""`modocr submit text|file|jsonl`: valid messages on the right topics; bad JSONL refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from schemas.documents import DOCUMENT_ADAPTER, InlineDocument
from schemas.posts import POST_ADAPTER, TextPost
from tests.kafka_fixtures import pipeline_settings, read_topic, worker_env

if TYPE_CHECKING:
    from pipeline.settings import TopicSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


async def modocr(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_submit_commands_produce_valid_messages(
    db_url: str, broker: str, topics: TopicSettings, tmp_path: Path
) -> None:
    """Text and files go to their topics as valid messages; a bad JSONL line exits 2."""
    env = worker_env(pipeline_settings(db_url, broker, topics))
    code, log = await modocr(env, "submit", "text", "hello there", "--tenant", "t1", "--id", "x1")
    assert code == 0, log
    files = [str(SAMPLES / "documents" / n) for n in ("notice-photo.png", "minutes-text-layer.pdf")]
    code, log = await modocr(env, "submit", "file", *files, "--tenant", "t1")
    assert code == 0, log
    jsonl = tmp_path / "in.jsonl"
    lines = (SAMPLES / "posts.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, log = await modocr(env, "submit", "jsonl", str(jsonl))
    assert code == 0, log

    posts = [POST_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.posts)]
    documents = [
        DOCUMENT_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.documents)
    ]
    assert len(posts) == 6
    assert any(isinstance(p, TextPost) and p.id == "x1" and p.tenant == "t1" for p in posts)
    assert sorted(d.filename or "" for d in documents) == sorted(Path(f).name for f in files)
    assert all(isinstance(d, InlineDocument) and d.size for d in documents)
    assert {d.content_type for d in documents} == {"image/png", "application/pdf"}

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"kind": "text", "id": "y"}) + "\n", encoding="utf-8")
    code, log = await modocr(env, "submit", "jsonl", str(bad))
    assert code == 2
    assert "bad.jsonl:1" in log
