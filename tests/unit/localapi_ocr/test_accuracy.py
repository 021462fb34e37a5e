"""OCR accuracy: character error rate <= 2% on text-layer PDFs, scans and rotated scans."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from .pages import (
    PARAGRAPH,
    SCAN_DPI,
    cer,
    image_bytes,
    noisy,
    scan,
    scanned_pdf,
    text_pdf,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipeline.localapi.ocr import OcrEngine

logger = logging.getLogger(__name__)

MAX_CER = 0.02

CASES: dict[str, Callable[[], tuple[bytes, str]]] = {
    "pdf-text-layer": lambda: (text_pdf([PARAGRAPH]), "application/pdf"),
    "pdf-scanned": lambda: (scanned_pdf(scan()), "application/pdf"),
    "png-scan": lambda: (image_bytes(scan(), dpi=(SCAN_DPI, SCAN_DPI)), "image/png"),
    "jpeg-noisy": lambda: (image_bytes(noisy(scan()), "JPEG", quality=70), "image/jpeg"),
    "png-rot90": lambda: (image_bytes(scan().rotate(90, expand=True)), "image/png"),
    "png-rot180": lambda: (image_bytes(scan().rotate(180, expand=True)), "image/png"),
    "png-rot270": lambda: (image_bytes(scan().rotate(270, expand=True)), "image/png"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_cer_within_two_percent(ocr_engine: OcrEngine, case: str) -> None:
    """Each document comes back with at most 2% character errors, in reading order."""
    data, mime_type = CASES[case]()
    started = time.perf_counter()
    pages = ocr_engine.read(data, mime_type, None)
    elapsed = time.perf_counter() - started
    assert [page.index for page in pages] == [0]
    error_rate = cer(PARAGRAPH, pages[0].markdown)
    logger.info("%s: CER %.4f, %.2f s/page", case, error_rate, elapsed)
    assert error_rate <= MAX_CER, pages[0].markdown


def test_image_reports_its_dimensions(ocr_engine: OcrEngine) -> None:
    """An image page reports its pixel size and the dpi stored in the file."""
    page = Image.new("L", (1240, 1754), 255)
    pages = ocr_engine.read(image_bytes(page, dpi=(300, 300)), "image/png", [0])
    assert (pages[0].width, pages[0].height, pages[0].dpi) == (1240, 1754, 300)


def test_rendered_pdf_page_reports_200_dpi(ocr_engine: OcrEngine) -> None:
    """A PDF page without text layer is rendered at 200 dpi; the bitmap size is reported."""
    page = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
    pages = ocr_engine.read(scanned_pdf(page), "application/pdf", None)
    assert pages[0].dpi == 200
    assert abs(pages[0].width - page.width) <= 1
    assert abs(pages[0].height - page.height) <= 1
