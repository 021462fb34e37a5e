"""The wire models read every recorded payload and write bodies the strict API accepts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.mistral.retry import parse_retry_after
from pipeline.mistral.wire import (
    BatchOutputLine,
    ChatMessage,
    ChatModerationRequest,
    DocumentURLChunk,
    FileChunk,
    ImageURL,
    ImageURLChunk,
    ModelList,
    ModerationResponse,
    OcrRequest,
    OcrResponse,
    summarize_error,
)
from tests.unit.mistral.conftest import FIXTURES

if TYPE_CHECKING:
    from pathlib import Path

RECORDED = sorted(p for p in (FIXTURES / "recorded").iterdir() if p.suffix in {".json", ".jsonl"})


def _parse_recorded(path: Path) -> int:
    """Parse one recorded file with the model its name calls for; return objects parsed."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        lines = [line for line in text.splitlines() if line.strip()]
        for line in lines:
            envelope = BatchOutputLine.model_validate_json(line)
            assert envelope.response is not None
            if "ocr" in path.name:
                ocr = envelope.ocr_response()
                assert ocr is not None
                assert ocr.pages
        return len(lines)
    if path.name.startswith("ocr_"):
        OcrResponse.model_validate_json(text)
    elif path.name.startswith("moderation_"):
        ModerationResponse.model_validate_json(text)
    else:
        pytest.fail(f"no wire model for {path.name}")
    return 1


def test_every_recorded_fixture_is_covered() -> None:
    """The parametrized test below sees all eleven recorded payload files."""
    assert len(RECORDED) == 11


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_recorded_payload_parses(path: Path) -> None:
    """Every recorded response (every JSONL line) parses with the tolerant readers."""
    assert _parse_recorded(path) >= 1


def test_ocr_response_fields_of_the_annotated_pdf() -> None:
    """Annotations stay JSON strings; hyperlinks, dimensions and usage are read."""
    path = FIXTURES / "recorded" / "ocr_pdf_annotations_mistral7b_cookbook.json"
    ocr = OcrResponse.model_validate_json(path.read_text(encoding="utf-8"))
    assert len(ocr.pages) == 8
    assert [p.index for p in ocr.pages] == list(range(8))
    assert isinstance(ocr.document_annotation, str)
    assert json.loads(ocr.document_annotation)["language"] == "en"
    first = ocr.pages[0]
    assert first.dimensions is not None
    assert first.dimensions.dpi == 93
    assert first.hyperlinks == [
        "https://github.com/mistralai/mistral-src",
        "https://mistral.ai/news/announcing-mistral-7b/",
    ]
    assert first.images[0].image_annotation is not None
    assert ocr.pages_processed == 8


def test_ocr_blocks_and_confidence_scores() -> None:
    """Blocks keep their open type and per-block scores; word scores keep offsets."""
    blocks = OcrResponse.model_validate_json(
        (FIXTURES / "recorded" / "ocr_blocks_mistral-ocr-4-1_docs_illustrative.json").read_text()
    )
    page_blocks = blocks.pages[0].blocks
    assert page_blocks is not None
    image = next(b for b in page_blocks if b.type == "image")
    assert image.image_id == "img-0.jpeg"
    assert image.confidence_scores is not None
    assert image.confidence_scores.average_content_confidence_score is None
    words = OcrResponse.model_validate_json(
        (
            FIXTURES / "recorded" / "ocr_word_confidence_mistral-ocr-4-1_docs_illustrative.json"
        ).read_text()
    )
    scores = words.pages[0].confidence_scores
    assert scores is not None
    assert scores.word_confidence_scores is not None
    assert scores.word_confidence_scores[1].text == " Mistral"


def test_ocr_response_is_tolerant() -> None:
    """Unknown fields are kept, null lists read as empty, usage may be missing."""
    ocr = OcrResponse.model_validate(
        {
            "pages": [{"index": 0, "markdown": "x", "images": None, "hyperlinks": None, "new": 1}],
            "model": "mistral-ocr-9-9",
            "brand_new_field": {"a": 1},
        }
    )
    assert ocr.pages[0].images == []
    assert ocr.pages[0].hyperlinks == []
    assert ocr.pages[0].dimensions is None
    assert ocr.usage_info is None
    assert ocr.pages_processed == 1
    assert ocr.model_extra == {"brand_new_field": {"a": 1}}


def test_moderation_maps_are_open() -> None:
    """Unknown categories (2603's jailbreaking, future ones) are kept; usage gives tokens."""
    response = ModerationResponse.model_validate(
        {
            "id": "a" * 32,
            "model": "mistral-moderation-2603",
            "results": [
                {
                    "categories": {"jailbreaking": True, "brand_new": False},
                    "category_scores": {"jailbreaking": 0.9},
                }
            ],
            "usage": {
                "prompt_tokens": 7,
                "total_tokens": 96,
                "completion_tokens": 0,
                "extra_counter": 3,
            },
        }
    )
    assert response.results[0].categories == {"jailbreaking": True, "brand_new": False}
    assert response.total_tokens == 96
    no_usage = ModerationResponse.model_validate({"id": "x", "model": "m", "results": []})
    assert no_usage.total_tokens is None


def test_model_list_reads_cards_and_bare_arrays() -> None:
    """The real ``{"object": "list", "data": [...]}`` and the spec's bare array both parse."""
    card = {
        "id": "mistral-ocr-latest",
        "name": "mistral-ocr-2512",
        "aliases": ["mistral-ocr-2512"],
        "capabilities": {"vision": True, "ocr": True, "audio_speech": False},
        "max_context_length": 16384,
        "deprecation": None,
        "type": "base",
        "internal": False,
    }
    listed = ModelList.model_validate({"object": "list", "data": [card]})
    assert listed.ids() == ["mistral-ocr-latest"]
    assert listed.data[0].capabilities.ocr is True
    assert ModelList.model_validate([card]).ids() == ["mistral-ocr-latest"]


def test_batch_line_with_error_has_no_response() -> None:
    """An error-file line gives no OCR or moderation response."""
    line = BatchOutputLine.model_validate(
        {
            "id": "1-x",
            "custom_id": "1",
            "response": {"status_code": 400, "body": None},
            "error": {"message": "bad"},
        }
    )
    assert line.ocr_response() is None
    assert line.moderation_response() is None


def test_ocr_request_sends_every_boolean() -> None:
    """``include_blocks`` and the other booleans are always explicit; unset options are left out."""
    request = OcrRequest(
        model="mistral-ocr-4-0", document=DocumentURLChunk(document_url="https://x/a.pdf")
    )
    assert request.body() == {
        "model": "mistral-ocr-4-0",
        "document": {"type": "document_url", "document_url": "https://x/a.pdf"},
        "include_image_base64": False,
        "image_limit": 0,
        "extract_header": False,
        "extract_footer": False,
        "include_blocks": True,
    }


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            ImageURLChunk(image_url="https://x/a.png"),
            {"type": "image_url", "image_url": "https://x/a.png"},
        ),
        (
            ImageURLChunk(image_url=ImageURL(url="https://x/a.png", detail="high")),
            {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "high"}},
        ),
        (
            FileChunk(file_id="22e2e88f-0000-4000-8000-000000000000"),
            {"type": "file", "file_id": "22e2e88f-0000-4000-8000-000000000000"},
        ),
    ],
)
def test_document_variants_serialize(document: object, expected: dict[str, object]) -> None:
    """The three document variants serialize with their ``type`` discriminator."""
    request = OcrRequest.model_validate({"model": "m", "document": document, "pages": [0, 2]})
    body = request.body()
    assert body["document"] == expected
    assert body["pages"] == [0, 2]


def test_requests_refuse_unknown_keys() -> None:
    """Request models are as strict as the API (which answers 422 to unknown keys)."""
    with pytest.raises(ValidationError):
        OcrRequest.model_validate(
            {"model": "m", "document": {"type": "file", "file_id": "f"}, "n": 1}
        )


def test_payload_stays_out_of_reprs_and_validation_errors() -> None:
    """Data URIs and chat content never appear in reprs or validation error text."""
    chunk = DocumentURLChunk(document_url="data:application/pdf;base64,Q0FOQVJZ" * 10)
    message = ChatMessage(role="user", content="CANARY personal text")
    assert "Q0FOQVJZ" not in repr(chunk)
    assert "Q0FOQVJZ" not in str(chunk)
    assert "CANARY" not in repr(message)
    assert "CANARY" not in repr(ChatModerationRequest(model="m", input=[message]))
    with pytest.raises(ValidationError) as info:
        OcrResponse.model_validate({"pages": [{"index": "CANARY-PAGE"}]})
    assert "CANARY" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "message", "code", "error_type"),
    [
        ({"detail": "Unauthorized"}, "Unauthorized", None, None),
        ({"message": {"message": "deep"}, "code": 12}, "deep", "12", None),
        ({"message": ["plain item"], "type": "t"}, "plain item", None, "t"),
        ({"code": True, "type": 5}, None, None, None),
        ("not an object", None, None, None),
        ({"detail": [{"loc": [], "msg": "m", "input": "CANARY"}]}, "m", None, None),
    ],
)
def test_summarize_error_is_lenient(
    body: object, message: str | None, code: str | None, error_type: str | None
) -> None:
    """Odd shapes give what they can and never the echoed input."""
    summary = summarize_error(body)
    assert (summary.message, summary.code, summary.error_type) == (message, code, error_type)


def test_summarize_error_truncates_long_messages() -> None:
    """A message is cut to 200 characters."""
    summary = summarize_error({"message": "x" * 5000, "raw_status_code": 400})
    assert summary.message == "x" * 200
    assert summary.raw_status_code == 400


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
ERROR_KEYS = st.sampled_from(
    ["detail", "message", "type", "code", "raw_status_code", "error", "msg", "loc"]
)


@pytest.mark.slow
@hypothesis_settings(max_examples=200, deadline=None)
@given(st.dictionaries(ERROR_KEYS, JSON, max_size=5) | JSON)
def test_summarize_error_never_fails(body: object) -> None:
    """Any JSON at all gives a summary: short message, string code, int status or nothing."""
    summary = summarize_error(body)
    assert summary.message is None or 0 < len(summary.message) <= 200
    assert summary.code is None or isinstance(summary.code, str)
    assert summary.raw_status_code is None or isinstance(summary.raw_status_code, int)


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_parse_retry_after_never_fails(value: str) -> None:
    """Any header text is a non-negative wait or None."""
    wait = parse_retry_after(value)
    assert wait is None or wait >= 0
