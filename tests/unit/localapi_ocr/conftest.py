"""One OcrEngine per test session: RapidOCR loads once (about 2-3 s)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pipeline.localapi.ocr import OcrEngine

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def ocr_engine() -> Iterator[OcrEngine]:
    """The shared engine; Pillow's global pixel limit is restored afterwards."""
    saved = Image.MAX_IMAGE_PIXELS
    yield OcrEngine()
    Image.MAX_IMAGE_PIXELS = saved


@pytest.fixture
def make_engine() -> Iterator[type[OcrEngine]]:
    """Build extra engines (other limits); Pillow's global pixel limit is restored."""
    saved = Image.MAX_IMAGE_PIXELS
    yield OcrEngine
    Image.MAX_IMAGE_PIXELS = saved
