"""The canary inputs: every place a producer can put content, in posts, conversations,
documents and records that fail."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from pipeline.submit import Record, record_for
from schemas.documents import InlineDocument, UrlDocument
from schemas.posts import ChatTurn, ConversationPost, TextPost

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipeline.settings import TopicSettings


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
