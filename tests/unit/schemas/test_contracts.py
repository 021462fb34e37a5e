"""The topic contracts: JSON Schema in sync, tolerant reading, strict where it matters."""

from __future__ import annotations

import pydantic
import pytest

import schemas
from schemas.documents import DOCUMENT_ADAPTER, InlineDocument, UrlDocument
from schemas.export import JSON_DIR, render
from schemas.flagged import FlaggedEvent
from schemas.posts import POST_ADAPTER, ConversationPost, TextPost


def test_json_schemas_are_in_sync() -> None:
    """The checked-in JSON Schemas are what the models export (python -m schemas.export)."""
    rendered = render()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob("*.schema.json")}
    assert on_disk == rendered


def test_public_names_are_sorted() -> None:
    """schemas.__all__ is sorted and every name exists."""
    assert schemas.__all__ == sorted(schemas.__all__)
    for name in schemas.__all__:
        assert hasattr(schemas, name)


def test_post_kinds_are_discriminated() -> None:
    """A text post and a conversation decode to their own classes."""
    text = POST_ADAPTER.validate_json(b'{"kind":"text","id":"p1","text":"hi"}')
    conv = POST_ADAPTER.validate_json(
        b'{"kind":"conversation","id":"c1","messages":[{"role":"user","content":"hi"}]}'
    )
    assert isinstance(text, TextPost)
    assert isinstance(conv, ConversationPost)
    assert text.tenant == "default"


def test_unknown_fields_are_ignored() -> None:
    """A producer on a newer schema does not break this consumer."""
    post = POST_ADAPTER.validate_json(b'{"kind":"text","id":"p1","text":"hi","new_field":1}')
    assert not hasattr(post, "new_field")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind":"text","id":"","text":"hi"}',
        b'{"kind":"text","id":"p","text":""}',
        b'{"kind":"conversation","id":"c","messages":[]}',
        b'{"kind":"poem","id":"p","text":"hi"}',
        b'{"kind":"text","id":"p","text":"hi","submitted_at":"2026-01-01T00:00:00"}',
    ],
)
def test_invalid_posts_are_refused(raw: bytes) -> None:
    """Empty ids or texts, empty conversations, unknown kinds and naive times are refused."""
    with pytest.raises(pydantic.ValidationError):
        POST_ADAPTER.validate_json(raw)


def test_document_kinds() -> None:
    """Inline documents carry base64; URL documents carry a URL; sha256 must be hex."""
    inline = DOCUMENT_ADAPTER.validate_json(
        b'{"kind":"inline","id":"d","content_type":"application/pdf","data_base64":"JVBE"}'
    )
    url = DOCUMENT_ADAPTER.validate_json(
        b'{"kind":"url","id":"d","content_type":"application/pdf","url":"https://x.test/a.pdf"}'
    )
    assert isinstance(inline, InlineDocument)
    assert isinstance(url, UrlDocument)
    with pytest.raises(pydantic.ValidationError):
        DOCUMENT_ADAPTER.validate_json(
            b'{"kind":"inline","id":"d","content_type":"image/png","data_base64":"x","sha256":"Z"}'
        )


def test_events_get_stable_ids() -> None:
    """Two events get different ids; a copy keeps its id."""
    kwargs = {
        "item_id": 1,
        "item_kind": "post",
        "tenant": "t",
        "source": "s",
        "external_id": "e",
        "content_sha256": "0" * 64,
        "categories": ["pii"],
        "category_scores": {"pii": 0.9},
        "max_score": 0.9,
        "model": "m",
        "policy_version": "p",
    }
    first, second = FlaggedEvent(**kwargs), FlaggedEvent(**kwargs)
    assert first.event_id != second.event_id
    again = FlaggedEvent.model_validate_json(first.model_dump_json())
    assert again.event_id == first.event_id
    assert again == first
