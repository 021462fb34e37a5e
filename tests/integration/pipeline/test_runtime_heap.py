"""`run_workers` keeps start-up objects out of the collector's way while the workers run."""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

import pytest

from pipeline.runtime import open_context, run_workers
from pipeline.worker import LoopSpec
from tests.kafka_fixtures import pipeline_settings

if TYPE_CHECKING:
    from pipeline.settings import TopicSettings
    from pipeline.worker import Context

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_start_up_objects_are_frozen_while_workers_run(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    seen: list[int] = []

    async def probe(ctx: Context, stop: asyncio.Event, drained: asyncio.Event | None) -> int:
        seen.append(gc.get_freeze_count())
        return 0

    settings = pipeline_settings(db_url, broker, topics)
    async with open_context(settings, broker) as ctx:
        frozen_before = gc.get_freeze_count()
        await run_workers(ctx, broker, [LoopSpec("probe", probe)], stop=asyncio.Event(), burst=True)
        assert gc.get_freeze_count() == frozen_before == 0
    # The context (clients, pools, settings) was alive when the run began: frozen with it.
    assert seen
    assert seen[0] > 1000
