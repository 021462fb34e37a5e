"""Running the check: canary inputs through the pipeline in burst mode, then the search of the
logs, the output topics, the database and the temporary files."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from pipeline.db.engine import open_database, upgrade_database
from pipeline.kafka.client import Publisher, open_producer
from pipeline.runtime import create_topics, open_context, open_kafka, run_workers
from pipeline.settings import KafkaSettings, TopicSettings
from pipeline.submit import send
from pipeline.zdr.canaries import find_canaries, make_canaries
from pipeline.zdr.inputs import canary_records, text_layer_pdf
from pipeline.zdr.report import CheckReport, Finding
from pipeline.zdr.stores import read_topics, scan_database
from pipeline.zdr.traces import (
    OwnTempFiles,
    capture_logs,
    read_file,
    sqlite_files,
    temp_dirs,
    temp_listing,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pipeline.localapi.app import LocalApi
    from pipeline.settings import Settings
    from pipeline.worker import WorkerSpec

logger = logging.getLogger(__name__)


async def run_check(
    settings: Settings,
    bootstrap: str,
    specs: Sequence[WorkerSpec],
    *,
    local_api: LocalApi | None = None,
    pdf: Callable[[str], bytes] = text_layer_pdf,
    canaries: dict[str, str] | None = None,
) -> CheckReport:
    """Send the canary inputs, run ``specs`` in burst mode, then search all modocr wrote.

    ``settings`` names a migrated database and the topics to use (fresh ones: the topic search
    reads them whole); the database's rows are all searched.
    """
    canaries = canaries or make_canaries()
    report = CheckReport(canaries=canaries, zdr=settings.zdr)
    topics = settings.topics
    tenant = f"zdr-check-{uuid.uuid4().hex[:12]}"
    dirs = temp_dirs()
    excluded = sqlite_files(settings)
    own = OwnTempFiles(dirs, excluded)
    before = temp_listing(dirs)
    records = canary_records(
        canaries,
        topics,
        tenant=tenant,
        max_text_chars=settings.limits.max_text_chars,
        pdf=pdf,
    )
    # The inputs are sent as a producer would, before the capture: the producer's own client
    # logs (aiokafka at DEBUG logs record values) are not modocr's.
    await create_topics(settings, bootstrap)
    async with open_producer(
        bootstrap, max_request_size=settings.kafka.max_request_size
    ) as producer:
        await send(Publisher(producer), records)
    with capture_logs() as logs:
        logger.info("zdr check: %d canary inputs for tenant %s", len(records), tenant)
        async with open_context(settings, bootstrap, local_api=local_api) as ctx:
            watching = asyncio.Event()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(own.watch(watching))
                try:
                    await run_workers(ctx, bootstrap, specs, stop=asyncio.Event(), burst=True)
                finally:
                    watching.set()
        logger.info("zdr check: pipeline drained")
    after = temp_listing(dirs)

    report.findings.extend(
        Finding(place, f"log record {number}: {line[:80]!r}")
        for number, line in enumerate(logs, start=1)
        for place in find_canaries(line, canaries)
    )
    report.searched["log records"] = len(logs)

    deliveries = await read_topics(
        settings, bootstrap, [topics.flagged, topics.decisions, topics.dlq]
    )
    for delivery in deliveries:
        parts = [delivery.key or b"", delivery.value or b""]
        parts += [name.encode() + b"=" + value for name, value in delivery.headers]
        for place in find_canaries(b"\n".join(parts), canaries):
            report.findings.append(Finding(place, f"topic {delivery.position}"))
    report.searched["topic records"] = len(deliveries)

    async with open_database(settings.database_url) as database:
        db_findings, rows = await scan_database(database, canaries)
    report.findings.extend(db_findings)
    report.searched["database rows"] = rows

    changed = [
        path
        for path, stamp in after.items()
        if before.get(path) != stamp and os.path.realpath(path) not in excluded
    ]
    for path in changed:
        data = read_file(path)
        for place in find_canaries(data or b"", canaries):
            report.findings.append(Finding(place, f"temp file {path}"))
    for target, data in own.contents.items():
        for place in find_canaries(data, canaries):
            report.findings.append(Finding(place, f"temp file held open by modocr: {target}"))
    report.searched["new or changed temp files"] = len(changed) + len(own.contents)
    return report


async def check_embedded(
    settings: Settings,
    specs: Sequence[WorkerSpec],
    *,
    zdr: bool = True,
    local_api: LocalApi | None = None,
) -> CheckReport:
    """The check on a fresh SQLite database, the embedded broker and the in-process local API.

    The user's settings apply otherwise (limits, policy, workers); ZDR is forced to ``zdr``.
    """
    directory = Path(tempfile.mkdtemp(prefix="modocr-zdr-check-"))
    try:
        url = f"sqlite+aiosqlite:///{directory / 'check.db'}"
        await upgrade_database(url)
        prefix = f"zdr-check-{uuid.uuid4().hex[:12]}"
        run_settings = settings.model_copy(
            update={
                "zdr": zdr,
                "database_url": SecretStr(url),
                "kafka": KafkaSettings(
                    bootstrap_servers="embedded",
                    session_timeout_ms=6000,
                    heartbeat_interval_ms=1000,
                ),
                "topics": TopicSettings(
                    posts=f"{prefix}.posts",
                    documents=f"{prefix}.documents",
                    flagged=f"{prefix}.flagged",
                    decisions=f"{prefix}.decisions",
                    dlq=f"{prefix}.dlq",
                ),
                "mistral": settings.mistral.model_copy(update={"base_url": "local"}),
            }
        )
        async with open_kafka(run_settings) as bootstrap:
            return await run_check(run_settings, bootstrap, specs, local_api=local_api)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
