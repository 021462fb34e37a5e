"""The web UI in a real browser: Playwright drives Debian's Chromium against uvicorn on loopback.

Sign in with a token, filter the queue by category, export it, open an item, decide, find the
decision in the audit log, look at the stats; a screenshot of each page lands in
``test-artifacts/review``.
Chromium comes from ``apt-get install chromium`` (``scripts/ensure-chromium.sh``); this test
never downloads a browser and is never skipped.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from playwright.async_api import async_playwright, expect

from pipeline.review.app import create_app
from tests.integration.review import seed
from tests.integration.review.conftest import config_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pipeline.db.engine import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "review"


@asynccontextmanager
async def serve(db_url: str) -> AsyncIterator[str]:
    """The review app under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(config_for(db_url)), log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    with sock:
        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(server.serve(sockets=[sock]))
            try:
                async with asyncio.timeout(10):
                    while not server.started:
                        if task.done():
                            task.result()
                        await asyncio.sleep(0.02)  # uvicorn offers no startup event to await
                yield f"http://127.0.0.1:{port}"
            finally:
                server.should_exit = True


@pytest.mark.timeout(120)
async def test_sign_in_filter_open_decide_audit(  # noqa: PLR0915 - one user journey
    db_url: str, database: Database, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A reviewer's whole path through the UI, with a screenshot of every page."""
    assert CHROMIUM.exists(), "Chromium is missing: run scripts/ensure-chromium.sh (as root)"
    tenant = seed.new_tenant()
    await seed.seed(
        database,
        tenant,
        [
            seed.Spec(categories=("pii",), score=0.97, content="call me at +44 20 7946 0000"),
            seed.Spec(categories=("hate_and_discrimination",), score=0.91),
            seed.Spec(categories=("pii", "sexual"), score=0.88, kind="document", pages=2),
        ],
    )
    name, token = await seed.reviewer(database, "admin")
    backend = request.node.callspec.id
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()

    async with serve(db_url) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()

            async def shot(label: str) -> None:
                await page.screenshot(path=ARTIFACTS / f"{backend}-{label}.png", full_page=True)

            await page.goto(f"{base}/")
            await expect(page).to_have_url(f"{base}/login?next=/")
            await page.fill("#token", token)
            await shot("1-sign-in")
            await page.click("button[type=submit]")
            await expect(page.locator("h1")).to_have_text("Flagged items")
            await expect(page.locator("header")).to_contain_text(name)
            await shot("2-queue")

            await page.fill("input[name=tenant]", tenant)
            await page.select_option("#category", ["pii"])
            await page.click("#apply")
            rows = page.locator("#queue tbody tr")
            await expect(rows).to_have_count(2)
            for text in await rows.all_inner_texts():
                assert "pii" in text
            await shot("3-queue-filtered")

            async with page.expect_download() as download_info:
                await page.click("#export-csv")
            download = await download_info.value
            exported = Path(await download.path()).read_text().splitlines()
            assert exported[0].startswith("flag_id,")
            assert len(exported) == 3  # the header and the two filtered rows
            assert all(tenant in line for line in exported[1:])

            await rows.filter(has_text="+44 20").locator("a").click()
            await expect(page.locator("h1")).to_contain_text("Flag")
            await expect(page.locator("#scores")).to_contain_text("pii")
            await expect(page.locator("#content")).to_contain_text("+44 20")
            await expect(page.locator("#status")).to_have_text("open")
            await shot("4-item")

            note = f"PII exposed ({tenant})"
            await page.fill("#note", note)
            await page.click("#decide button[value=uphold]")
            await expect(page.locator("#status")).to_have_text("upheld")
            await expect(page.locator("#history")).to_contain_text(note)
            await shot("5-item-decided")

            await page.click("header >> text=Audit")
            row = page.locator("#audit tbody tr", has_text=note)
            await expect(row).to_have_count(1)
            await expect(row).to_contain_text(name)
            await expect(row).to_contain_text("open → upheld")
            await shot("6-audit")

            await page.click("header >> text=Stats")
            await expect(page.locator("#chart rect").first).to_be_visible()
            await shot("7-stats")
        finally:
            await browser.close()
    for label in ("1-sign-in", "2-queue", "3-queue-filtered", "4-item", "6-audit", "7-stats"):
        assert (ARTIFACTS / f"{backend}-{label}.png").stat().st_size > 1000
