"""The local API over a real loopback socket (uvicorn), with the real engines."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.localapi import Faults, LocalApi, serve_local_api

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "documents"
API_KEY = "sk-local-integration"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _sample(name: str) -> tuple[str, dict[str, Any]]:
    manifest = json.loads((SAMPLES / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = [d for d in manifest["documents"] if d["filename"] == name]
    data = (SAMPLES / name).read_bytes()
    uri = f"data:{entry['content_type']};base64," + base64.b64encode(data).decode()
    return uri, entry


@pytest.mark.slow
async def test_moderation_over_loopback() -> None:
    """A real socket: bind port 0, answer a moderation request, stop cleanly."""
    local_api = LocalApi(API_KEY, faults=Faults(tokens_per_min=1000))
    async with serve_local_api(local_api) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as client:
            response = await client.post(
                "/v1/moderations",
                json={
                    "model": "mistral-moderation-2411",
                    "input": ["You are a fucking idiot.", "call +1 415 555 0134"],
                },
            )
            unauthorized = await client.get("/v1/models", headers={"Authorization": "Bearer no"})
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining-tokens-minute"] == str(1000 - 6 - 5)
    flagged, pii = response.json()["results"]
    assert any(flagged["categories"].values())
    assert pii["categories"]["pii"] is True
    assert unauthorized.status_code == 401
    assert [r.status for r in local_api.requests] == [200, 401]


@pytest.mark.slow
async def test_ocr_text_layer_pdf_over_loopback() -> None:
    """The real OCR engine reads a text-layer PDF page by page (0-based pages)."""
    uri, entry = _sample("invoice-text-layer.pdf")
    local_api = LocalApi(API_KEY)
    async with (
        serve_local_api(local_api) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=AUTH) as client,
    ):
        response = await client.post(
            "/v1/ocr",
            json={
                "model": "mistral-ocr-4-0",
                "document": {"document_url": uri},
                "include_blocks": True,
            },
        )
        one = await client.post(
            "/v1/ocr",
            json={"model": "mistral-ocr-2512", "document": {"document_url": uri}, "pages": [1]},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["usage_info"] == {"pages_processed": 2, "doc_size_bytes": entry["size"]}
    for page, expected in zip(body["pages"], entry["pages"], strict=True):
        assert _words(page["markdown"]) == _words(expected)
        assert page["dimensions"]["dpi"] > 0
        assert page["blocks"][0]["bottom_right_x"] == page["dimensions"]["width"]
    assert [p["index"] for p in one.json()["pages"]] == [1]


@pytest.mark.slow
async def test_ocr_corrupt_pdf_is_400_over_loopback() -> None:
    """Bytes that are not a PDF → 400 document_parser_invalid_file from the real engine."""
    local_api = LocalApi(API_KEY)
    uri = "data:application/pdf;base64," + base64.b64encode(b"definitely not a pdf").decode()
    async with (
        serve_local_api(local_api) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=AUTH) as client,
    ):
        response = await client.post(
            "/v1/ocr", json={"model": "mistral-ocr-latest", "document": {"document_url": uri}}
        )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "document_parser_invalid_file"
    assert body["code"] == "3740"
    assert body["message"]


@pytest.mark.slow
async def test_ocr_image_with_rapidocr() -> None:
    """An image goes through RapidOCR; most words of the ground truth come back."""
    uri, entry = _sample("notice-photo.png")
    local_api = LocalApi(API_KEY)
    async with (
        serve_local_api(local_api) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=60) as client,
    ):
        response = await client.post(
            "/v1/ocr", json={"model": "mistral-ocr-latest", "document": {"image_url": uri}}
        )
    assert response.status_code == 200
    (page,) = response.json()["pages"]
    expected = set(_words(entry["expected_text"]))
    assert len(expected & set(_words(page["markdown"]))) >= 0.8 * len(expected)


@pytest.mark.slow
async def test_hang_outlasts_the_client_timeout() -> None:
    """hang_rate=1 holds the request past the client's read timeout; the server still stops."""
    local_api = LocalApi(API_KEY, faults=Faults(hang_rate=1.0, hang_s=30.0))
    async with (
        serve_local_api(local_api) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=0.2) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/v1/models")
    assert local_api.requests[0].fault == "hang"
