"""Image formats: multi-page TIFF, EXIF orientation, transparency, declared dpi."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image

from .pages import image_bytes

if TYPE_CHECKING:
    from pipeline.localapi.ocr import OcrEngine


def test_multipage_tiff_pages(ocr_engine: OcrEngine) -> None:
    """Each frame of a TIFF is a page; a selection reads only those frames."""
    frames = [Image.new("L", (40 + 10 * n, 30), 255) for n in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    pages = ocr_engine.read(buffer.getvalue(), "image/tiff", [2, 1])
    assert [(page.index, page.width) for page in pages] == [(1, 50), (2, 60)]


def test_exif_orientation_is_applied(ocr_engine: OcrEngine) -> None:
    """A JPEG tagged 'rotate 90' reports its upright (swapped) size."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    data = image_bytes(Image.new("RGB", (80, 40), "white"), "JPEG", exif=exif)
    pages = ocr_engine.read(data, "image/jpeg", None)
    assert (pages[0].width, pages[0].height) == (40, 80)


def test_transparent_png_is_flattened_on_white(ocr_engine: OcrEngine) -> None:
    """A fully transparent PNG is a blank white page, not a black one."""
    data = image_bytes(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))
    pages = ocr_engine.read(data, "image/png", None)
    assert pages[0].markdown == ""


def test_dpi_falls_back_to_200(ocr_engine: OcrEngine) -> None:
    """Without a resolution in the file, the page reports 200 dpi."""
    data = image_bytes(Image.new("L", (10, 10), 255), "GIF")
    assert ocr_engine.read(data, "image/gif", None)[0].dpi == 200
