"""Routes of the local API through httpx.ASGITransport: status codes, bodies, headers."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from pipeline.localapi.app import LocalApi
from pipeline.localapi.moderation import CATEGORIES_2411, CATEGORIES_2603
from tests.unit.localapi.conftest import API_KEY, AUTH, PDF_HEADER, FakeClock, FakeOcr

PDF_URI = "data:application/pdf;base64," + base64.b64encode(PDF_HEADER).decode()
PNG_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
USAGE_KEYS = [
    "prompt_audio_seconds",
    "prompt_tokens",
    "total_tokens",
    "completion_tokens",
    "request_count",
    "prompt_token_details",
]


def _ocr(document: dict[str, object], **extra: object) -> dict[str, object]:
    return {"model": "mistral-ocr-latest", "document": document, **extra}


# -- auth and routing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer "},
        {"Authorization": API_KEY},
    ],
)
async def test_missing_or_wrong_key_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """No bearer, a wrong key, an empty token or no scheme → 401 {"detail": "Unauthorized"}."""
    client.headers.pop("Authorization")
    response = await client.get("/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


async def test_any_bearer_when_no_key_is_set(local_api: LocalApi) -> None:
    """api_key=None accepts any non-empty bearer token, and still refuses none."""
    open_api = LocalApi(None, clock=local_api.clock, sleep=local_api.sleep)
    transport = httpx.ASGITransport(app=open_api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/v1/models", headers={"Authorization": "Bearer x"})).status_code == 200
        assert (await c.get("/v1/models")).status_code == 401


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    """An unknown path answers FastAPI's 404 body; docs routes do not exist either."""
    for path in ("/v1/ocr/process", "/docs", "/openapi.json"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/moderations", {"model": "mistral-moderation-2603", "input": "hi", "n": 1}),
        (
            "/v1/chat/moderations",
            {
                "model": "mistral-moderation-2603",
                "input": [{"role": "user", "content": "hi"}],
                "n": 1,
            },
        ),
        ("/v1/ocr", _ocr({"document_url": PDF_URI}, n=1)),
    ],
)
async def test_unknown_key_is_extra_forbidden(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    """An unknown top-level key → 422 in FastAPI's exact shape."""
    response = await client.post(path, json=body)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "extra_forbidden",
                "loc": ["body", "n"],
                "msg": "Extra inputs are not permitted",
                "input": 1,
            }
        ]
    }


async def test_old_truncate_flag_is_refused(client: httpx.AsyncClient) -> None:
    """truncate_for_context_length is gone from the spec: sending it is a 422."""
    body = {
        "model": "mistral-moderation-2603",
        "input": [{"role": "user", "content": "hi"}],
        "truncate_for_context_length": True,
    }
    response = await client.post("/v1/chat/moderations", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"model": "mistral-moderation-2603"}, ["body", "input"]),
        ({"input": "hi"}, ["body", "model"]),
    ],
)
async def test_missing_field_is_422(
    client: httpx.AsyncClient, body: dict[str, object], loc: list[str]
) -> None:
    """A missing required field → 422 ``missing`` at its location."""
    response = await client.post("/v1/moderations", json=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "missing"
    assert error["loc"] == loc


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    """Bytes that are not JSON → 422 json_invalid, as FastAPI answers."""
    response = await client.post(
        "/v1/moderations", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "document",
    [{"document_url": "http://example.com/a.pdf"}, {"document_url": "data:text/plain;base64,aGk="}],
)
async def test_document_url_must_be_https_or_data_uri(
    client: httpx.AsyncClient, document: dict[str, object]
) -> None:
    """Anything but https or a data:application/... URI → 422 value_error at ["body"]."""
    response = await client.post("/v1/ocr", json=_ocr(document))
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "value_error"
    assert error["loc"] == ["body"]
    assert error["msg"].startswith("Value error, Document content must be a URL")


@pytest.mark.parametrize("pages", ["a", "3-1", [-1], "1,,2"])
async def test_bad_pages_are_422(client: httpx.AsyncClient, pages: object) -> None:
    """Malformed or negative page selections → 422 at ["body", "pages"] (or its union branch)."""
    response = await client.post("/v1/ocr", json=_ocr({"document_url": PDF_URI}, pages=pages))
    assert response.status_code == 422
    assert all(error["loc"][:2] == ["body", "pages"] for error in response.json()["detail"])


# -- moderation ------------------------------------------------------------------------------


async def test_moderation_response_shape(client: httpx.AsyncClient) -> None:
    """-latest resolves to 2603: 32-hex id, 2026 usage, 11 categories, one result per input."""
    texts = ["You are a fucking idiot.", "The meeting is moved to Thursday at 10am."]
    response = await client.post(
        "/v1/moderations", json={"model": "mistral-moderation-latest", "input": texts}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["id", "usage", "model", "results"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert list(body["usage"]) == USAGE_KEYS
    tokens = 6 + 11  # ceil(24 / 4) + ceil(41 / 4)
    assert body["usage"] == {
        "prompt_audio_seconds": None,
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "request_count": 1,
        "prompt_token_details": None,
    }
    assert body["model"] == "mistral-moderation-2603"
    assert len(body["results"]) == 2
    for result in body["results"]:
        assert list(result) == ["category_scores", "categories"]
        assert list(result["category_scores"]) == list(CATEGORIES_2603)
        assert list(result["categories"]) == list(CATEGORIES_2603)
    assert any(body["results"][0]["categories"].values())
    assert not any(body["results"][1]["categories"].values())


async def test_moderation_2411_has_nine_keys(client: httpx.AsyncClient) -> None:
    """2411 answers its 9 keys; total_tokens = prompt_tokens + 89 as in every 2411 capture."""
    response = await client.post(
        "/v1/moderations",
        json={"model": "mistral-moderation-2411", "input": "call +1 415 555 0134"},
    )
    body = response.json()
    assert body["model"] == "mistral-moderation-2411"
    (result,) = body["results"]
    assert list(result["categories"]) == list(CATEGORIES_2411)
    assert result["categories"]["pii"] is True
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 89


async def test_moderation_ids_are_unique(client: httpx.AsyncClient) -> None:
    """Every response carries a fresh id."""
    body = {"model": "mistral-moderation-2603", "input": "hi"}
    first = (await client.post("/v1/moderations", json=body)).json()
    second = (await client.post("/v1/moderations", json=body)).json()
    assert first["id"] != second["id"]


async def test_unknown_moderation_model_is_404(client: httpx.AsyncClient) -> None:
    """An unknown model → 404 in the 2026 envelope."""
    response = await client.post(
        "/v1/moderations", json={"model": "mistral-moderation-2407", "input": "hi"}
    )
    assert response.status_code == 404
    assert response.json() == {
        "object": "error",
        "message": "The model `mistral-moderation-2407` does not exist for router `moderation`.",
        "type": "model_not_found",
        "param": None,
        "code": "3040",
        "raw_status_code": 404,
    }


async def test_chat_single_conversation(client: httpx.AsyncClient) -> None:
    """One conversation → one result, for its last turn; text chunks count as content."""
    conversation = [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": [{"type": "text", "text": "what is your email?"}]},
        {"role": "assistant", "content": "mail me at jane.doe@example.com"},
    ]
    response = await client.post(
        "/v1/chat/moderations", json={"model": "mistral-moderation-2603", "input": conversation}
    )
    assert response.status_code == 200
    body = response.json()
    (result,) = body["results"]
    assert result["categories"]["pii"] is True
    assert body["usage"]["prompt_tokens"] == 2 + 5 + 8


async def test_chat_list_of_conversations(client: httpx.AsyncClient) -> None:
    """A list of conversations → one result each, in order; context alone flags nothing."""
    conversations = [
        [
            {"role": "user", "content": "I will kill you"},
            {"role": "assistant", "content": "Let us calm down."},
        ],
        [{"role": "user", "content": "I will kill you"}],
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": []},
        ],
    ]
    response = await client.post(
        "/v1/chat/moderations", json={"model": "mistral-moderation-2411", "input": conversations}
    )
    results = response.json()["results"]
    assert [r["categories"]["violence_and_threats"] for r in results] == [False, True, False]


async def test_chat_empty_conversation_is_422(client: httpx.AsyncClient) -> None:
    """An empty inner conversation is refused."""
    response = await client.post(
        "/v1/chat/moderations", json={"model": "mistral-moderation-2603", "input": [[]]}
    )
    assert response.status_code == 422


# -- models ----------------------------------------------------------------------------------


async def test_models_list_has_every_id_and_alias(client: httpx.AsyncClient) -> None:
    """Every dated id and alias is its own card; aliases name the canonical id."""
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    cards = {card["id"]: card for card in body["data"]}
    assert set(cards) == {
        "mistral-ocr-2512",
        "mistral-ocr-4-0",
        "mistral-ocr-4-1",
        "mistral-ocr-4",
        "mistral-ocr-latest",
        "mistral-moderation-2411",
        "mistral-moderation-2603",
        "mistral-moderation-latest",
    }
    latest = cards["mistral-ocr-latest"]
    assert latest["name"] == "mistral-ocr-4-1"
    assert latest["aliases"] == ["mistral-ocr-4-1", "mistral-ocr-4"]
    assert latest["capabilities"]["ocr"] is True
    assert latest["type"] == "base"
    assert cards["mistral-moderation-latest"]["name"] == "mistral-moderation-2603"
    assert cards["mistral-moderation-2411"]["deprecation"] == "2026-03-31T12:00:00Z"


async def test_get_model(client: httpx.AsyncClient) -> None:
    """One card by id; an unknown id → 404 model_not_found envelope."""
    card = (await client.get("/v1/models/mistral-moderation-2603")).json()
    assert card["id"] == "mistral-moderation-2603"
    assert card["capabilities"]["moderation"] is True
    response = await client.get("/v1/models/mistral-ocr-2503")
    assert response.status_code == 404
    assert response.json()["type"] == "model_not_found"
    assert response.json()["raw_status_code"] == 404


# -- OCR -------------------------------------------------------------------------------------


async def test_ocr_response_shape(client: httpx.AsyncClient, fake_ocr: FakeOcr) -> None:
    """Pages, model, document_annotation and usage_info in order; pages "0,2" are 0-based."""
    response = await client.post(
        "/v1/ocr", json=_ocr({"type": "document_url", "document_url": PDF_URI}, pages="0,2")
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["pages", "model", "document_annotation", "usage_info"]
    assert body["model"] == "mistral-ocr-4-1"
    assert body["document_annotation"] is None
    assert body["usage_info"] == {"pages_processed": 2, "doc_size_bytes": len(PDF_HEADER)}
    assert fake_ocr.calls == [(len(PDF_HEADER), "application/pdf", [0, 2])]
    first = body["pages"][0]
    assert first == {
        "index": 0,
        "markdown": "# Page 1\n\ntext 0",
        "images": [],
        "tables": [],
        "hyperlinks": [],
        "header": None,
        "footer": None,
        "dimensions": {"dpi": 200, "height": 2200, "width": 1700},
        "confidence_scores": None,
        "blocks": None,
    }
    assert [page["index"] for page in body["pages"]] == [0, 2]


@pytest.mark.parametrize(
    ("model", "resolved", "blocks"),
    [
        ("mistral-ocr-4-0", "mistral-ocr-4-0", 1),
        ("mistral-ocr-4", "mistral-ocr-4-1", 1),
        ("mistral-ocr-2512", "mistral-ocr-2512", 0),
    ],
)
async def test_blocks_only_on_ocr_4(
    client: httpx.AsyncClient, model: str, resolved: str, blocks: int
) -> None:
    """include_blocks: one full-page text block on 4.x; 2512 accepts it and returns []."""
    body = {
        "model": model,
        "document": {"document_url": PDF_URI},
        "pages": [1],
        "include_blocks": True,
        "table_format": "html",
        "extract_header": True,
        "extract_footer": True,
    }
    response = (await client.post("/v1/ocr", json=body)).json()
    assert response["model"] == resolved
    (page,) = response["pages"]
    assert len(page["blocks"]) == blocks
    if blocks:
        assert page["blocks"][0] == {
            "type": "text",
            "top_left_x": 0,
            "top_left_y": 0,
            "bottom_right_x": 1700,
            "bottom_right_y": 2200,
            "content": "# Page 2\n\ntext 1",
            "confidence_scores": None,
        }


@pytest.mark.parametrize("model", ["mistral-ocr-2503", "mistral-ocr-2505", "mistral-ocr-2411"])
async def test_retired_ocr_models_are_404(client: httpx.AsyncClient, model: str) -> None:
    """Retired and unknown OCR ids → 404 model_not_found for router `ocr`."""
    response = await client.post(
        "/v1/ocr", json={"model": model, "document": {"document_url": PDF_URI}}
    )
    assert response.status_code == 404
    assert response.json() == {
        "object": "error",
        "message": f"The model `{model}` does not exist for router `ocr`.",
        "type": "model_not_found",
        "param": None,
        "code": "3040",
        "raw_status_code": 404,
    }


@pytest.mark.parametrize(
    "document",
    [
        {"type": "image_url", "image_url": PNG_URI},
        {"image_url": {"url": PNG_URI, "detail": "high"}},
    ],
)
async def test_image_url_variants(
    client: httpx.AsyncClient, fake_ocr: FakeOcr, document: dict[str, object]
) -> None:
    """image_url as a string or an object, type optional; the mime type comes from the data URI."""
    response = await client.post("/v1/ocr", json=_ocr(document))
    assert response.status_code == 200
    assert response.json()["pages"][0]["dimensions"] == {"dpi": 200, "height": 480, "width": 640}
    assert fake_ocr.calls[-1][1] == "image/png"


async def test_unreadable_document_is_400(client: httpx.AsyncClient) -> None:
    """UnsupportedContentError → 400 document_parser_invalid_file with the engine's reason."""
    uri = "data:application/pdf;base64," + base64.b64encode(b"not a pdf").decode()
    response = await client.post("/v1/ocr", json=_ocr({"document_url": uri}))
    assert response.status_code == 400
    assert response.json() == {
        "object": "error",
        "message": "Document is not a valid PDF.",
        "type": "document_parser_invalid_file",
        "param": None,
        "code": "3740",
        "raw_status_code": 400,
    }


async def test_bad_base64_is_400(client: httpx.AsyncClient) -> None:
    """A data URI whose payload is not base64 → 400 envelope."""
    response = await client.post(
        "/v1/ocr", json=_ocr({"document_url": "data:application/pdf;base64,@@@"})
    )
    assert response.status_code == 400
    assert response.json()["type"] == "document_parser_invalid_file"


async def test_https_url_needs_registration(client: httpx.AsyncClient, local_api: LocalApi) -> None:
    """The local API cannot fetch: 400 unless the URL was registered by the test."""
    url = "https://files.example.com/invoice.pdf"
    response = await client.post("/v1/ocr", json=_ocr({"document_url": url}))
    assert response.status_code == 400
    assert response.json()["message"] == "document_url fetch is not available in the local API"
    local_api.register_url(url, PDF_HEADER + b"registered", "application/pdf")
    response = await client.post(
        "/v1/ocr", json=_ocr({"document_url": url, "document_name": "invoice.pdf"})
    )
    assert response.status_code == 200
    assert response.json()["usage_info"]["doc_size_bytes"] == len(PDF_HEADER) + 10


async def test_file_chunk(client: httpx.AsyncClient, local_api: LocalApi) -> None:
    """An unknown file_id → 404 envelope; a registered one is read."""
    response = await client.post("/v1/ocr", json=_ocr({"type": "file", "file_id": "f-1"}))
    assert response.status_code == 404
    assert response.json()["raw_status_code"] == 404
    local_api.register_file("f-1", PDF_HEADER, "application/pdf")
    response = await client.post("/v1/ocr", json=_ocr({"file_id": "f-1"}))
    assert response.status_code == 200
    assert response.json()["usage_info"]["pages_processed"] == 3


async def test_old_base64_document_type_is_422(client: httpx.AsyncClient) -> None:
    """The removed {"type": "base64_document"} variant is refused."""
    response = await client.post(
        "/v1/ocr", json=_ocr({"type": "base64_document", "document_base64": "aGk="})
    )
    assert response.status_code == 422


async def test_request_log(client: httpx.AsyncClient, local_api: LocalApi) -> None:
    """Every request is logged with path, status, model and input count."""
    await client.post(
        "/v1/moderations", json={"model": "mistral-moderation-2603", "input": ["a", "b"]}
    )
    await client.get("/v1/nope")
    first, second = local_api.requests
    assert (first.method, first.path, first.status, first.model, first.inputs) == (
        "POST",
        "/v1/moderations",
        200,
        "mistral-moderation-2603",
        2,
    )
    assert first.tokens == 2
    assert first.time == local_api.clock()
    assert (second.path, second.status) == ("/v1/nope", 404)


async def test_request_log_is_bounded(clock: FakeClock) -> None:
    """Past request_log_limit the oldest half is dropped, so long runs stay small."""
    api = LocalApi(API_KEY, clock=clock, sleep=clock.sleep, request_log_limit=4)
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as c:
        for step in range(7):
            clock.advance(1)
            await c.get(f"/v1/models/m-{step}")
    assert len(api.requests) <= 4
    assert api.requests[-1].path == "/v1/models/m-6"
    assert [r.time for r in api.requests] == sorted(r.time for r in api.requests)
