"""``modocr flagged`` and ``modocr reviewers`` against a real database (both backends)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from pipeline.review.cli import flagged_app, reviewers_app, serve
from tests.integration.review import seed

if TYPE_CHECKING:
    from pathlib import Path

    from pipeline.db.engine import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(flagged_app, name="flagged")
    app.add_typer(reviewers_app, name="reviewers")
    app.command()(serve)
    return app


@pytest.fixture
async def seeded(database: Database) -> tuple[str, list[int]]:
    tenant = seed.new_tenant()
    ids = await seed.seed(
        database,
        tenant,
        [
            seed.Spec(categories=("pii",), score=0.95),
            seed.Spec(categories=("sexual",), score=0.7),
            seed.Spec(categories=("pii", "sexual"), score=0.8),
        ],
    )
    return tenant, ids


def invoke(db_url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(
        cli(),
        list(args),
        env={"MODOCR_DATABASE_URL": db_url, "MODOCR_LOG_LEVEL": "WARNING"} | (env or {}),
    )
    return result.exit_code, result.stdout, result.stderr


def test_reviewers_add_list_revoke(db_url: str) -> None:
    """The token is printed once on stdout; lists never show it; revoke is recorded."""
    name = f"cli-{seed.new_tenant()}"
    code, out, _ = invoke(db_url, "reviewers", "add", name, "--role", "reviewer")
    assert code == 0
    token = out.strip()
    assert len(token) >= 40
    code, out, _ = invoke(db_url, "reviewers", "list", "--json")
    listed = {r["name"]: r for r in json.loads(out)}
    assert listed[name]["role"] == "reviewer"
    assert token not in out
    assert invoke(db_url, "reviewers", "add", name)[0] == 1  # the name is taken
    assert invoke(db_url, "reviewers", "add", "x", "--role", "root")[0] == 2
    assert invoke(db_url, "reviewers", "revoke", name)[0] == 0
    listed = {r["name"]: r for r in json.loads(invoke(db_url, "reviewers", "list", "--json")[1])}
    assert listed[name]["revoked_at"] is not None
    assert invoke(db_url, "reviewers", "revoke", "nobody-at-all")[0] == 1


def test_flagged_list_show_decide_export(
    db_url: str, seeded: tuple[str, list[int]], tmp_path: Path
) -> None:
    """List with filters, show, decide (stale version → exit 1), export the same filters."""
    tenant, ids = seeded
    code, out, _ = invoke(
        db_url, "flagged", "list", "--tenant", tenant, "--category", "pii", "--json"
    )
    assert code == 0
    assert {i["id"] for i in json.loads(out)["items"]} == {ids[0], ids[2]}
    code, _, table = invoke(db_url, "flagged", "list", "--tenant", tenant)
    assert code == 0
    assert "Flagged items" in table

    code, out, _ = invoke(db_url, "flagged", "show", str(ids[0]), "--json")
    detail = json.loads(out)
    assert detail["model"] == seed.MODEL
    assert detail["reference"]["tenant"] == tenant

    token = invoke(db_url, "reviewers", "add", f"cli-{seed.new_tenant()}", "--role", "admin")[1]
    args = ["flagged", "decide", str(ids[0]), "dismiss", "--version", "1", "--note", "ok"]
    code, out, _ = invoke(db_url, *args, "--json", env={"MODOCR_REVIEW_TOKEN": token.strip()})
    assert code == 0, out
    assert json.loads(out) == {"status": "dismissed", "assignee": None, "version": 2}
    code, _, err = invoke(db_url, *args, env={"MODOCR_REVIEW_TOKEN": token.strip()})
    assert code == 1
    assert "ConflictError" in err
    assert invoke(db_url, *args, env={"MODOCR_REVIEW_TOKEN": "wrong"})[0] == 2

    target = tmp_path / "out.jsonl"
    code, _, err = invoke(
        db_url, "flagged", "export", "--tenant", tenant, "--category", "sexual",
        "--format", "jsonl", "-o", str(target),
    )  # fmt: skip
    assert code == 0
    assert {json.loads(line)["flag_id"] for line in target.read_text().splitlines()} == {
        ids[1],
        ids[2],
    }
    code, out, _ = invoke(db_url, "flagged", "export", "--tenant", tenant, "--format", "csv")
    assert code == 0
    assert out.splitlines()[0].startswith("flag_id,item_id,kind")
    assert len(out.splitlines()) == 4
