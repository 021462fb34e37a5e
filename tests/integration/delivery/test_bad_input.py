"""Each kind of bad input: a DLQ record with a clear reason, a failed item; the worker goes on."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import uuid
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from reportlab.pdfgen import canvas
from sqlalchemy import select

from pipeline.db.models import Item
from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY
from pipeline.runtime import create_topics, open_context, run_workers
from pipeline.submit import record_for, send
from schemas.dlq import DEAD_LETTER_ADAPTER
from schemas.documents import InlineDocument, UrlDocument
from schemas.posts import TextPost
from tests.kafka_fixtures import pipeline_settings, read_topic
from workers import REGISTRY

if TYPE_CHECKING:
    from pipeline.settings import TopicSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "documents"


def pdf(
    pages: int = 1, size: tuple[float, float] = (595, 842), encrypt: str | None = None
) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=size, encrypt=encrypt)
    for number in range(pages):
        page.drawString(72, 72, f"Page {number + 1}")
        page.showPage()
    page.save()
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds one empty IDAT: a bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_each_kind_of_bad_input_is_dead_lettered(
    db_url: str, broker: str, topics: TopicSettings
) -> None:
    """One run over all kinds; each ends failed with its reason, the good inputs are processed."""
    tenant = f"bad-{uuid.uuid4().hex[:8]}"
    settings = pipeline_settings(
        db_url,
        broker,
        topics,
        limits={"max_text_chars": 1000, "max_document_bytes": 200_000, "max_pages": 3},
    )

    def doc(
        doc_id: str, data: bytes, content_type: str = "application/pdf", **extra: object
    ) -> InlineDocument:
        return InlineDocument(
            id=doc_id,
            tenant=tenant,
            source="uploads",
            content_type=content_type,
            data_base64=base64.b64encode(data).decode(),
            **extra,
        )

    def url(doc_id: str, address: str) -> UrlDocument:
        return UrlDocument(
            id=doc_id,
            tenant=tenant,
            source="uploads",
            kind="url",
            content_type="application/pdf",
            url=address,
        )

    documents = [
        (
            doc("bad-base64", b"x").model_copy(update={"data_base64": "@@not base64@@"}),
            "not valid base64",
        ),
        (doc("oversize", b"%PDF-" + b"0" * 300_000), "over the size limit of 200000"),
        (doc("too-many-pages", pdf(pages=5)), "5 pages, over the limit of 3"),
        (doc("zip", b"PK\x03\x04zip", "application/zip"), "unsupported content type"),
        (doc("corrupt-pdf", b"%PDF-1.7\n garbage garbage"), "PDF is corrupt"),
        (doc("encrypted-pdf", pdf(encrypt="secret")), "PDF is encrypted"),
        (
            doc("corrupt-png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
            "corrupt or unreadable",
        ),
        (doc("bomb-png", png_header_only(100_000, 100_000), "image/png"), "decompression bomb"),
        (doc("huge-page", pdf(size=(14400, 14400))), "pt a side"),
        (doc("png-as-pdf", (SAMPLES / "notice-photo.png").read_bytes()), "magic number mismatch"),
        (doc("page-out-of-range", pdf(), pages=[4]), "page 4 requested"),
        (doc("wrong-sha", pdf(), sha256="0" * 64), "sha256 does not match"),
        (url("http-url", "http://example.com/a.pdf"), "must use https"),
        (url("private-url", "https://10.1.2.3/a.pdf"), "non-public address"),
        (url("loopback-url", "https://127.0.0.1/a.pdf"), "non-public address"),
        (url("link-local-url", "https://169.254.169.254/latest/meta-data"), "non-public address"),
        (url("localhost-url", "https://localhost/a.pdf"), "local host"),
        (url("mistral-4xx", "https://example.com/never-registered.pdf"), "Mistral 400"),
    ]
    posts = [
        (
            TextPost(id="too-long", tenant=tenant, source="forum", text="a" * 1500),
            "over the limit of 1000",
        ),
    ]
    raw_posts = [
        (b"\x00\x01 not json", "schema violation"),
        (b"\xff\xfe\x00 invalid utf-8", "not valid UTF-8"),
        (
            b'{"kind": "text", "id": "no-text", "tenant": "' + tenant.encode() + b'"}',
            "text: missing",
        ),
        (
            b'{"kind": "text", "id": "empty", "text": "", "tenant": "' + tenant.encode() + b'"}',
            "string_too_short",
        ),
    ]
    good_post = TextPost(id="good-post", tenant=tenant, source="forum", text="All good here.")
    good_doc = doc("good-doc", (SAMPLES / "minutes-text-layer.pdf").read_bytes())

    records = [record_for(topics.documents, d) for d, _ in documents]
    records += [record_for(topics.posts, p) for p, _ in posts]
    records += [(topics.posts, None, raw, []) for raw, _ in raw_posts]
    records += [record_for(topics.posts, good_post), record_for(topics.documents, good_doc)]

    local_api = LocalApi(api_key=LOCAL_API_KEY)
    async with open_context(settings, broker, local_api=local_api) as ctx:
        await create_topics(settings, broker)
        await send(ctx.publisher, records)
        async with asyncio.timeout(180):
            await run_workers(
                ctx, broker, list(REGISTRY.values()), stop=asyncio.Event(), burst=True
            )
        async with ctx.database.sessions() as session:
            rows = (
                await session.execute(
                    select(Item).where(Item.tenant.in_([tenant, "unknown", "default"]))
                )
            ).scalars()
            items = {
                item.external_id: item
                for item in rows
                if item.source_topic in {topics.posts, topics.documents}
            }

    dead = [
        DEAD_LETTER_ADAPTER.validate_json(v) for _, v, _ in await read_topic(broker, topics.dlq)
    ]
    assert len(dead) == len(documents) + len(posts) + len(raw_posts)
    by_id = {d.external_id: d for d in dead if d.external_id}
    for message, reason in [*documents, *posts]:
        assert reason in by_id[message.id].reason, (message.id, by_id[message.id].reason)
        assert items[message.id].status == "failed"
        assert reason in (items[message.id].error or "")
    raw_reasons = sorted(d.reason for d in dead if d.external_id in {None, "no-text", "empty"})
    for _, reason in raw_posts:
        assert any(reason in r for r in raw_reasons), (reason, raw_reasons)
    for letter in dead:
        assert letter.payload_base64 is not None
        assert letter.source_topic in {topics.posts, topics.documents}
        assert letter.attempts >= 1
    failed_by_position = [i for i in items.values() if i.tenant == "unknown"]
    assert len(failed_by_position) == 2  # the two records with no readable id
    assert items["good-post"].status == "processed"
    assert items["good-doc"].status == "processed"
