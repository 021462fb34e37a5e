"""``modocr zdr check``: canary inputs through the pipeline, then a search of all modocr wrote.

Unique canary strings go into every place a producer can put content (post text, turns, a PDF's
text layer, a scanned image, filenames, metadata, inputs that fail); the search covers every row
of every table, the logs captured at DEBUG, the flagged/decisions/DLQ topics and temp files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import logging
import os
import re
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFont
from pydantic import SecretStr
from sqlalchemy import MetaData, make_url, select

from pipeline.db.engine import open_database, upgrade_database
from pipeline.kafka.client import Publisher, open_consumer, open_producer
from pipeline.kafka.runner import ConsumeOptions, Runner
from pipeline.runtime import create_topics, open_context, open_kafka, run_workers
from pipeline.settings import KafkaSettings, TopicSettings
from pipeline.submit import Record, record_for, send
from schemas.documents import InlineDocument, UrlDocument
from schemas.posts import ChatTurn, ConversationPost, TextPost

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection

    from pipeline.db.engine import Database
    from pipeline.kafka.records import Decoded, Delivery
    from pipeline.kafka.runner import Outcome
    from pipeline.localapi.app import LocalApi
    from pipeline.settings import Settings
    from pipeline.worker import WorkerSpec

logger = logging.getLogger(__name__)

CANARY_ALPHABET = "ACDEFHJKLMNPRTUVWXY"
"""Capitals OCR does not confuse with digits or each other (no O/0, I/1, S/5, Z/2, B/8, G/6)."""
CANARY_PREFIX = "ZDR"
CANARY_LETTERS = 10
PLACES: tuple[str, ...] = (
    "post text",
    "author",
    "metadata key",
    "metadata value",
    "conversation turn",
    "conversation last turn",
    "pdf text layer",
    "document filename",
    "document metadata",
    "scanned image",
    "oversized post",
    "corrupt pdf filename",
    "corrupt pdf bytes",
    "invalid record",
    "undecodable record",
    "non-json document record",
    "refused document url",
)
"""Where a canary is put; the last seven are inputs that fail (the dead-letter path)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TEMP_ENTRIES = 200_000
FD_SAMPLE_S = 0.2
WIRE_TRACE_LOGGERS: dict[str, int] = {"aiokafka.conn": logging.INFO}
"""Captured only from this level: aiokafka.conn's DEBUG records are raw Kafka frames (fetched
input records included). modocr never emits them: ``configure_logging`` caps aiokafka at WARNING
at every ``MODOCR_LOG_LEVEL``."""
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")
_EXPAND_DEPTH = 3


@dataclass(frozen=True)
class Finding:
    """One canary found: which place it was put in and where it turned up."""

    place: str
    where: str


@dataclass
class CheckReport:
    """What was searched and what was found."""

    canaries: dict[str, str]
    zdr: bool
    findings: list[Finding] = field(default_factory=list)
    searched: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        """The human report: PASS and what was searched, or where each canary was found."""
        scope = ", ".join(f"{count} {what}" for what, count in self.searched.items())
        if self.passed:
            return [
                f"PASS: {len(self.canaries)} canaries (ZDR {'on' if self.zdr else 'off'}) "
                f"found nowhere; searched {scope}"
            ]
        found = [f"FOUND: {f.place} canary in {f.where}" for f in self.findings]
        places = {f.place for f in self.findings}
        return [
            *found,
            f"FAIL: {len(places)} of {len(self.canaries)} canaries found "
            f"(ZDR {'on' if self.zdr else 'off'}); searched {scope}",
        ]


def make_canaries(places: Sequence[str] = PLACES) -> dict[str, str]:
    """One unique, OCR-readable canary per place, e.g. ``ZDRKXMPTAHWCE``."""
    return {
        place: CANARY_PREFIX
        + "".join(secrets.choice(CANARY_ALPHABET) for _ in range(CANARY_LETTERS))
        for place in places
    }


def find_canaries(data: str | bytes, canaries: dict[str, str]) -> list[str]:
    """The places whose canary occurs in ``data``, also inside base64 (nested) and any case."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    haystacks = list(_expand(raw, _EXPAND_DEPTH))
    return [
        place
        for place, canary in canaries.items()
        if any(canary.lower().encode() in h for h in haystacks)
    ]


def _expand(raw: bytes, depth: int) -> Iterator[bytes]:
    """``raw`` lowercased, plus what its base64-looking runs decode to (recursively)."""
    yield raw.lower()
    if depth <= 0:
        return
    for match in _BASE64.finditer(raw):
        token = match.group()
        token = token[: len(token) - len(token) % 4] if not token.endswith(b"=") else token
        with contextlib.suppress(binascii.Error, ValueError):
            yield from _expand(base64.b64decode(token), depth - 1)


def text_layer_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer is ``text`` (Helvetica, uncompressed; Latin-1 text)."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def scanned_png(text: str) -> bytes:
    """``text`` rendered as large black capitals on white: a page that only OCR can read."""
    font = ImageFont.load_default(size=96)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (int(right - left) + 160, int(bottom - top) + 200), 255)
    ImageDraw.Draw(image).text((80 - left, 100 - top), text, fill=0, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def canary_records(
    canaries: dict[str, str],
    topics: TopicSettings,
    *,
    tenant: str,
    max_text_chars: int,
    pdf: Callable[[str], bytes] = text_layer_pdf,
) -> list[Record]:
    """The canary inputs: ten that are processed, seven that are dead-lettered.

    Args:
        pdf: builds a PDF whose text layer holds the given text (tests pass a reportlab one).
    """
    c = canaries
    insult = "You are a fucking idiot."
    post = TextPost(
        id="post",
        tenant=tenant,
        source="forum",
        text=f"{insult} {c['post text']}",
        author=c["author"],
        metadata={c["metadata key"]: 1, "note": c["metadata value"]},
    )
    conversation = ConversationPost(
        id="conversation",
        tenant=tenant,
        source="chat",
        kind="conversation",
        messages=[
            ChatTurn(role="user", content=f"Hello, I am {c['conversation turn']}."),
            ChatTurn(role="assistant", content="Hello, how can I help?"),
            ChatTurn(
                role="user", content=f"Shut up, you stupid bitch. {c['conversation last turn']}"
            ),
        ],
    )
    pdf_document = _inline(
        "pdf",
        tenant,
        pdf(f"Invoice for services rendered. Reference {c['pdf text layer']} paid in full."),
        "application/pdf",
        filename=f"{c['document filename']}.pdf",
        metadata={"title": c["document metadata"]},
    )
    image = _inline("scan", tenant, scanned_png(c["scanned image"]), "image/png", "scan.png")
    oversized = TextPost(
        id="oversized",
        tenant=tenant,
        source="forum",
        text=(c["oversized post"] + " " + "x" * max_text_chars)[: max_text_chars + 1],
    )
    corrupt = _inline(
        "corrupt-pdf",
        tenant,
        b"%PDF-1.7\n" + c["corrupt pdf bytes"].encode() + b"\n\x00\x01 not a pdf",
        "application/pdf",
        filename=f"{c['corrupt pdf filename']}.pdf",
    )
    url_document = UrlDocument(
        id="private-url",
        tenant=tenant,
        source="uploads",
        kind="url",
        content_type="application/pdf",
        url=f"https://10.0.0.1/{c['refused document url']}.pdf",
    )
    invalid = (
        b'{"kind": "text", "id": "invalid", "tenant": "%s", "source": "forum", '
        b'"text": 12345, "author": "%s"}' % (tenant.encode(), c["invalid record"].encode())
    )
    return [
        record_for(topics.posts, post),
        record_for(topics.posts, conversation),
        record_for(topics.documents, pdf_document),
        record_for(topics.documents, image),
        record_for(topics.posts, oversized),
        record_for(topics.documents, corrupt),
        record_for(topics.documents, url_document),
        (topics.posts, None, invalid, []),
        (topics.posts, None, b"\xff\xfe" + c["undecodable record"].encode() + b"\xc3", []),
        (
            topics.documents,
            None,
            b'{"kind": "inline", ' + c["non-json document record"].encode(),
            [],
        ),
    ]


def _inline(
    doc_id: str,
    tenant: str,
    data: bytes,
    content_type: str,
    filename: str,
    metadata: dict[str, str | int | float | bool | None] | None = None,
) -> InlineDocument:
    return InlineDocument(
        id=doc_id,
        tenant=tenant,
        source="uploads",
        filename=filename,
        content_type=content_type,
        size=len(data),
        data_base64=base64.b64encode(data).decode("ascii"),
        metadata=metadata or {},
    )


class _ListHandler(logging.Handler):
    """Keeps every formatted record (message, exception and stack) in a list."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """Capture all log output at DEBUG (but ``WIRE_TRACE_LOGGERS``); levels restored after."""
    handler = _ListHandler()
    root = logging.getLogger()
    loggers = [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved = {lg: (lg.level, lg.disabled) for lg in loggers}
    saved_root = root.level
    detached = [lg for lg in loggers if not lg.propagate]
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
    for lg in detached:
        lg.addHandler(handler)
    for name, level in WIRE_TRACE_LOGGERS.items():
        wire = logging.getLogger(name)
        saved.setdefault(wire, (wire.level, wire.disabled))
        wire.setLevel(level)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for lg in detached:
            lg.removeHandler(handler)
        for lg, (level, disabled) in saved.items():
            lg.setLevel(level)
            lg.disabled = disabled


def temp_dirs() -> list[Path]:
    """The temp directories to watch: ``tempfile.gettempdir()``, ``/var/tmp``, ``/dev/shm``."""
    found: dict[str, Path] = {}
    for name in (tempfile.gettempdir(), "/var/tmp", "/dev/shm"):  # noqa: S108 - watched, not used
        path = Path(name)
        if path.is_dir():
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def temp_listing(dirs: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """``path → (mtime_ns, size)`` of the regular files under ``dirs`` (bounded walk)."""
    listing: dict[str, tuple[int, int]] = {}
    stack = [str(d) for d in dirs]
    while stack and len(listing) < MAX_TEMP_ENTRIES:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        stat = entry.stat(follow_symlinks=False)
                        listing[entry.path] = (stat.st_mtime_ns, stat.st_size)
    return listing


def _read(path: str) -> bytes | None:
    with contextlib.suppress(OSError), Path(path).open("rb") as file:
        return file.read(MAX_FILE_BYTES)
    return None


class OwnTempFiles:
    """Samples the process's open files: temp files (even unlinked ones) are read while open."""

    def __init__(self, dirs: Sequence[Path], excluded: set[str]) -> None:
        self._roots = tuple(os.path.realpath(d) + os.sep for d in dirs)
        self._excluded = excluded
        self.contents: dict[str, bytes] = {}

    def sample(self) -> None:
        fd_dir = Path("/proc/self/fd")
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    path = target.removesuffix(" (deleted)")
                    is_temp = path.startswith(self._roots) or target.endswith(" (deleted)")
                    if not is_temp or path in self._excluded or not path.startswith("/"):
                        continue
                    data = _read(str(fd))
                    if data is not None:
                        self.contents[target] = data

    async def watch(self, stop: asyncio.Event) -> None:
        """Sample every ``FD_SAMPLE_S`` until ``stop``."""
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FD_SAMPLE_S):
                    await stop.wait()
        self.sample()


def sqlite_files(settings: Settings) -> set[str]:
    """The SQLite database's own files (searched as the database, not as temp files)."""
    url = make_url(settings.database_url.get_secret_value())
    if url.get_backend_name() != "sqlite" or not url.database:
        return set()
    path = os.path.realpath(url.database)
    return {path + suffix for suffix in ("", "-journal", "-wal", "-shm")}


async def read_topics(settings: Settings, bootstrap: str, topics: Sequence[str]) -> list[Delivery]:
    """Every record of ``topics`` (a fresh consumer group, burst mode: up to the end offsets)."""
    seen: list[Delivery] = []

    async def collect(batch: list[Decoded[bytes | None]]) -> list[Outcome]:
        seen.extend(d.delivery for d in batch)
        return [None] * len(batch)

    async def never(delivery: Delivery, error: BaseException, attempts: int) -> None:
        del error, attempts
        seen.append(delivery)

    async with open_consumer(
        bootstrap,
        f"modocr.zdr-check-{uuid.uuid4().hex}",
        client_id=f"{settings.kafka.client_id}-zdr-check",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
    ) as consumer:
        runner: Runner[bytes | None] = Runner(
            consumer,
            list(topics),
            _raw,
            collect,
            never,
            ConsumeOptions(batch_max=500, burst=True),
            name="zdr-check",
        )
        await runner.run(asyncio.Event())
    return seen


def _raw(value: bytes | None) -> bytes | None:
    return value


async def scan_database(database: Database, canaries: dict[str, str]) -> tuple[list[Finding], int]:
    """Every row of every table in the database (reflected, so none is missed)."""
    findings: list[Finding] = []
    rows = 0
    async with database.engine.connect() as connection:
        metadata = await _reflect(connection)
        for table in metadata.sorted_tables:
            result = await connection.execute(select(table))
            for row in result.mappings():
                rows += 1
                for column, value in row.items():
                    for place in find_canaries(_text(value), canaries):
                        key = _row_key(table.primary_key.columns.keys(), row)
                        findings.append(Finding(place, f"database {table.name}.{column} ({key})"))
    return findings, rows


async def _reflect(connection: AsyncConnection) -> MetaData:
    metadata = MetaData()
    await connection.run_sync(lambda sync: metadata.reflect(sync))
    return metadata


def _row_key(columns: list[str], row: Any) -> str:  # noqa: ANN401 - a SQLAlchemy RowMapping
    return ", ".join(f"{c}={row[c]}" for c in columns) or "no primary key"


def _text(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, datetime | date | int | float):
        return b""
    return str(value).encode("utf-8", "surrogatepass")


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
        data = _read(path)
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
