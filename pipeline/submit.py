"""Building input messages from files and texts: what ``modocr submit`` and the demo send."""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from typing import TYPE_CHECKING

from pipeline.errors import InvalidMessageError
from pipeline.kafka.codec import decode, encode
from schemas.documents import DOCUMENT_ADAPTER, InlineDocument
from schemas.posts import POST_ADAPTER, TextPost

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pipeline.kafka.client import Publisher
    from pipeline.settings import TopicSettings
    from schemas.inputs import InputMessage

Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]
"""``(topic, key, value, headers)`` as ``Publisher.publish_many`` takes them."""


def record_for(topic: str, message: InputMessage) -> Record:
    """A record keyed by ``tenant/source/id`` so an item's redeliveries share a partition."""
    key = f"{message.tenant}/{message.source}/{message.id}".encode()
    return (topic, key, encode(message), [])


def text_post(text: str, *, tenant: str, source: str, post_id: str | None = None) -> TextPost:
    return TextPost(id=post_id or uuid.uuid4().hex, tenant=tenant, source=source, text=text)


def guess_content_type(path: Path) -> str:
    """The MIME type from the file name (``application/octet-stream`` when unknown)."""
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def inline_document(
    path: Path, *, tenant: str, source: str, doc_id: str | None = None
) -> InlineDocument:
    """A document message carrying the file inline (base64)."""
    data = path.read_bytes()
    return InlineDocument(
        id=doc_id or path.name,
        tenant=tenant,
        source=source,
        filename=path.name,
        content_type=guess_content_type(path),
        size=len(data),
        data_base64=base64.b64encode(data).decode("ascii"),
    )


def jsonl_records(path: Path, topics: TopicSettings) -> Iterator[Record]:
    """Validate each line of a JSONL file as a post or a document; route it to its topic.

    Raises:
        InvalidMessageError: naming the line that fits neither schema.
    """
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            kind = _kind_of(line)
            try:
                if kind in {"inline", "url"}:
                    yield record_for(topics.documents, decode(DOCUMENT_ADAPTER, line))
                else:
                    yield record_for(topics.posts, decode(POST_ADAPTER, line))
            except InvalidMessageError as exc:
                raise InvalidMessageError(f"{path}:{number}: {exc}") from None


def _kind_of(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    kind = value.get("kind") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


async def send(publisher: Publisher, records: list[Record], chunk: int = 500) -> None:
    """Publish records in pipelined chunks; return once the broker acknowledged all."""
    for start in range(0, len(records), chunk):
        await publisher.publish_many(records[start : start + chunk])
