"""Hostile or broken input ends as UnsupportedContentError, quickly and within memory."""

from __future__ import annotations

import random
import struct
import threading
import time
import zlib
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pipeline.errors import UnsupportedContentError

from .pages import blank_pdf, encrypted_pdf, image_bytes, text_pdf

if TYPE_CHECKING:
    from pipeline.localapi.ocr import OcrEngine


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but carries almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_bomb_is_refused_at_open(ocr_engine: OcrEngine) -> None:
    """A PNG declaring 100000x100000 pixels is refused before decoding, in well under 1 s."""
    started = time.perf_counter()
    with pytest.raises(UnsupportedContentError, match="image"):
        ocr_engine.read(_png_header_only(100_000, 100_000), "image/png", None)
    assert time.perf_counter() - started < 1.0


def test_png_between_limit_and_twice_limit_is_refused_without_warning(
    ocr_engine: OcrEngine,
) -> None:
    """7000x7000 (49 Mpx, over the 40 Mpx cap) is refused; no warning leaks."""
    with pytest.raises(UnsupportedContentError, match="image"):
        ocr_engine.read(_png_header_only(7000, 7000), "image/png", None)


def test_image_over_a_custom_cap_is_refused(make_engine: type[OcrEngine]) -> None:
    """The engine's own max_image_pixels applies, not only Pillow's global limit."""
    engine = make_engine(max_image_pixels=10_000)
    page = Image.new("L", (200, 200), 255)
    with pytest.raises(UnsupportedContentError, match="over the limit"):
        engine.read(image_bytes(page), "image/png", None)


def test_truncated_png(ocr_engine: OcrEngine) -> None:
    """A PNG cut in half is corrupt, not a crash."""
    rng = random.Random(3)
    noise = bytes(rng.getrandbits(8) for _ in range(300 * 300))
    data = image_bytes(Image.frombytes("L", (300, 300), noise))
    with pytest.raises(UnsupportedContentError, match="image is unreadable"):
        ocr_engine.read(data[: len(data) // 2], "image/png", None)


@pytest.mark.parametrize("mime_type", ["image/png", "image/jpeg", "image/tiff"])
def test_random_bytes_as_image(ocr_engine: OcrEngine, mime_type: str) -> None:
    """Bytes that are no image are unreadable."""
    data = random.Random(5).randbytes(4096)
    with pytest.raises(UnsupportedContentError, match="image is unreadable"):
        ocr_engine.read(data, mime_type, None)


def test_random_bytes_as_pdf(ocr_engine: OcrEngine) -> None:
    """Bytes that are no PDF are a corrupt PDF."""
    data = random.Random(6).randbytes(4096)
    with pytest.raises(UnsupportedContentError, match="PDF is corrupt"):
        ocr_engine.read(data, "application/pdf", None)


def test_truncated_pdf(ocr_engine: OcrEngine) -> None:
    """A PDF without its second half is corrupt."""
    data = text_pdf(["hello"] * 3)
    with pytest.raises(UnsupportedContentError, match="PDF is corrupt"):
        ocr_engine.read(data[: len(data) // 2], "application/pdf", None)


def test_encrypted_pdf(ocr_engine: OcrEngine) -> None:
    """A password-protected PDF is refused as encrypted."""
    with pytest.raises(UnsupportedContentError, match="PDF is encrypted"):
        ocr_engine.read(encrypted_pdf(), "application/pdf", None)


def test_huge_pdf_page_renders_within_the_pixel_cap(make_engine: type[OcrEngine]) -> None:
    """A 14400x14400 pt page is rendered at a clamped scale, never at 40000x40000 px."""
    engine = make_engine(max_image_pixels=4_000_000)
    started = time.perf_counter()
    pages = engine.read(blank_pdf((14400, 14400)), "application/pdf", None)
    assert time.perf_counter() - started < 5.0
    page = pages[0]
    assert page.markdown == ""
    assert page.width * page.height <= 4_000_000
    assert page.width >= 1900
    assert page.dpi < 200


@pytest.mark.slow
def test_huge_pdf_page_at_the_default_cap(ocr_engine: OcrEngine) -> None:
    """At the default 40 Mpx cap the same page renders in about 0.3 s (RSS about 300 MB)."""
    started = time.perf_counter()
    pages = ocr_engine.read(blank_pdf((14400, 14400)), "application/pdf", None)
    assert time.perf_counter() - started < 10.0
    assert pages[0].width * pages[0].height <= 40_000_000
    assert pages[0].width > 6000


def test_huge_pdf_page_with_text_reports_a_capped_virtual_size(
    ocr_engine: OcrEngine,
) -> None:
    """A text-layer page is not rendered; its reported size respects the cap too."""
    pages = ocr_engine.read(
        text_pdf(["giant page"], pagesize=(14400, 14400)), "application/pdf", None
    )
    assert pages[0].markdown == "giant page"
    assert pages[0].width * pages[0].height <= 40_000_000


def test_pages_selection(ocr_engine: OcrEngine) -> None:
    """Only the requested 0-based pages come back, in page order, duplicates dropped."""
    data = text_pdf(["page zero", "page one", "page two"])
    pages = ocr_engine.read(data, "application/pdf", [2, 0, 2])
    assert [(page.index, page.markdown) for page in pages] == [
        (0, "page zero"),
        (2, "page two"),
    ]
    assert [page.dpi for page in pages] == [200, 200]
    assert (pages[0].width, pages[0].height) == (1654, 2339)


@pytest.mark.parametrize("index", [3, -1])
def test_page_out_of_range_is_named(ocr_engine: OcrEngine, index: int) -> None:
    """An index outside the document is refused, naming the index."""
    data = text_pdf(["a", "b", "c"])
    with pytest.raises(UnsupportedContentError, match=f"page index {index} "):
        ocr_engine.read(data, "application/pdf", [0, index])


def test_image_has_a_single_page(ocr_engine: OcrEngine) -> None:
    """A PNG has page 0 only."""
    data = image_bytes(Image.new("L", (50, 50), 255))
    with pytest.raises(UnsupportedContentError, match="page index 1 "):
        ocr_engine.read(data, "image/png", [1])


def test_too_many_pages(make_engine: type[OcrEngine]) -> None:
    """A document over max_pages is refused before any page is read."""
    engine = make_engine(max_pages=2)
    with pytest.raises(UnsupportedContentError, match="3 pages"):
        engine.read(text_pdf(["a", "b", "c"]), "application/pdf", None)


@pytest.mark.parametrize("mime_type", ["text/plain", "application/zip", "image/svg+xml"])
def test_unsupported_content_type(ocr_engine: OcrEngine, mime_type: str) -> None:
    """Types outside PDF and raster images are refused by name."""
    with pytest.raises(UnsupportedContentError, match="unsupported content type"):
        ocr_engine.read(b"hello", mime_type, None)


def test_content_type_parameters_and_case_are_ignored(ocr_engine: OcrEngine) -> None:
    """``Application/PDF; charset=binary`` is a PDF."""
    pages = ocr_engine.read(text_pdf(["hi"]), "Application/PDF; charset=binary", None)
    assert pages[0].markdown == "hi"


def test_blank_image_reads_as_empty(ocr_engine: OcrEngine) -> None:
    """A uniform image has no text, and reports its size and the default 200 dpi."""
    pages = ocr_engine.read(image_bytes(Image.new("RGB", (64, 32), "white")), "image/png", None)
    assert [(p.markdown, p.width, p.height, p.dpi) for p in pages] == [("", 64, 32, 200)]


def test_concurrent_pdf_reads_agree(ocr_engine: OcrEngine) -> None:
    """PDFium calls from several threads are serialised and give the same pages."""
    data = text_pdf([f"page {n}" for n in range(5)])
    expected = ocr_engine.read(data, "application/pdf", None)
    results: list[object] = []

    def work() -> None:
        results.extend(ocr_engine.read(data, "application/pdf", None) for _ in range(5))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 20


def test_elongated_image_is_refused(ocr_engine: OcrEngine) -> None:
    """A 20000x5 strip cannot be OCR'd (RapidOCR would fail resizing it): a clear error."""
    noise = random.Random(9).randbytes(20000 * 5)
    data = image_bytes(Image.frombytes("L", (20000, 5), noise))
    with pytest.raises(UnsupportedContentError, match="too elongated"):
        ocr_engine.read(data, "image/png", None)
