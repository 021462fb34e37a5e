"""Local OCR engine behind the Mistral-compatible ``/v1/ocr``.

PDFs: the pypdfium2 text layer first, RapidOCR on pages without one. Images: Pillow, then
RapidOCR. Orientation (0/90/180/270°) is fixed without Tesseract; see ``OcrEngine``.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import unicodedata
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import UnsupportedContentError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

RENDER_DPI = 200
"""Nominal resolution of rendered PDF pages; lowered per page to respect the pixel cap."""

PDF_MIME_TYPE = "application/pdf"
IMAGE_MIME_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/webp",
        "image/tiff",
        "image/gif",
        "image/bmp",
    }
)
# Pillow plugins we let parse untrusted bytes (never EPS/PSD/...); the JPEG plugin also
# opens MPO (camera) files.
_PIL_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "GIF", "BMP")
# Everything Pillow raises on malformed input that is not a bug of ours.
_PIL_ERRORS = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    UnidentifiedImageError,
    OSError,
    ValueError,
    EOFError,
    SyntaxError,
    IndexError,
    TypeError,
    KeyError,
)

_SAMPLE_BOXES = 6
"""Text boxes recognised both ways to choose between an orientation and its 180° flip."""
_ORIENTATION_SHORT_SIDE = 736
"""Pages are reduced by an integer factor towards this short side before detecting lines."""
_MAX_ASPECT_RATIO = 100
"""Longest side over shortest side beyond which a page cannot be OCR'd (not tiled)."""
_PARAGRAPH_GAP = 0.8
"""A vertical gap above this fraction of the median line height starts a new paragraph."""

_COLOUR_NDIM = 3
_BGR_CHANNELS = 3

# PDFium is not thread-safe and its state is process-wide: every pdfium call holds this.
_PDFIUM_LOCK = threading.Lock()
# Pillow decoding runs under warnings.catch_warnings, whose state is process-wide.
_PILLOW_LOCK = threading.Lock()


@dataclass(frozen=True)
class OcrPage:
    """One page of a read document: its Markdown and its (rendered or virtual) size."""

    index: int
    markdown: str
    width: int
    height: int
    dpi: int


class _RapidOcr(Protocol):
    """The part of ``rapidocr.RapidOCR`` used here; results are read with ``getattr``."""

    def __call__(
        self,
        img_content: NDArray[np.uint8],
        *,
        use_det: bool,
        use_cls: bool,
        use_rec: bool,
    ) -> object: ...


@dataclass(frozen=True)
class _Raster:
    """A page to OCR: BGR pixels (what RapidOCR expects from arrays) and its resolution."""

    pixels: NDArray[np.uint8]
    dpi: int


class OcrEngine:
    """Reads PDFs and images into Markdown pages, offline.

    The RapidOCR models load lazily on the first page that needs OCR, once per engine.
    Thread safety: ``read`` may be called from several threads; RapidOCR calls are
    serialised by a per-engine lock (RapidOCR mutates its own state on every call),
    PDFium calls by a process-wide lock (PDFium is not thread-safe), and Pillow decoding
    by another (it runs under the process-wide ``warnings.catch_warnings``).

    Orientation without Tesseract: RapidOCR's detector runs first; if most of the text
    area is in boxes taller than wide, the page is turned by 90° or 270°, else 0° or 180°.
    The longest boxes are then recognised under both candidate rotations and the one
    with the higher mean recognition score wins (measured: about 0.99 upright against
    0.66-0.72 upside down).

    Pillow's ``Image.MAX_IMAGE_PIXELS`` is process-wide: the constructor lowers it to
    ``max_image_pixels`` (never raises it), so Pillow's own bomb check agrees with ours.
    """

    def __init__(self, *, max_pages: int = 1000, max_image_pixels: int = 40_000_000) -> None:
        if max_pages < 1 or max_image_pixels < 1:
            raise ValueError("max_pages and max_image_pixels must be positive")
        self._max_pages = max_pages
        self._max_image_pixels = max_image_pixels
        self._lock = threading.Lock()
        self._rapidocr: _RapidOcr | None = None
        if Image.MAX_IMAGE_PIXELS is None or max_image_pixels < Image.MAX_IMAGE_PIXELS:
            Image.MAX_IMAGE_PIXELS = max_image_pixels

    def read(self, data: bytes, mime_type: str, pages: list[int] | None) -> list[OcrPage]:
        """Read a document into pages, in ascending page order.

        CPU-bound and blocking: callers run it in a thread.

        Args:
            data: the document bytes.
            mime_type: ``application/pdf`` or an ``image/*`` type (parameters ignored).
            pages: 0-based page indexes to read (duplicates dropped), or None for all.

        Raises:
            UnsupportedContentError: corrupt, encrypted, unsupported or oversized input,
                or a page index out of range.
        """
        kind = mime_type.split(";", 1)[0].strip().lower()
        if kind == PDF_MIME_TYPE:
            return self._read_pdf(data, pages)
        if kind in IMAGE_MIME_TYPES:
            return self._read_image(data, pages)
        raise UnsupportedContentError(f"unsupported content type {kind!r}")

    # -- PDF -----------------------------------------------------------------------

    def _read_pdf(self, data: bytes, pages: list[int] | None) -> list[OcrPage]:
        with _PDFIUM_LOCK:
            pdf = _open_pdf(data)
        try:
            with _PDFIUM_LOCK:
                count = len(pdf)
            self._check_page_count(count)
            result = []
            for index in _select_pages(pages, count):
                with _PDFIUM_LOCK:
                    page = self._extract_pdf_page(pdf, index)
                if isinstance(page, _Raster):
                    height, width = page.pixels.shape[:2]
                    markdown = self._ocr(page.pixels)
                    page = OcrPage(index, markdown, width, height, page.dpi)
                result.append(page)
            return result
        finally:
            with _PDFIUM_LOCK:
                pdf.close()

    def _extract_pdf_page(self, pdf: pdfium.PdfDocument, index: int) -> OcrPage | _Raster:
        """Return the page's text layer, or its rendering when the text layer is empty.

        The caller holds ``_PDFIUM_LOCK``.
        """
        try:
            page = pdf[index]
        except pdfium.PdfiumError as exc:
            raise UnsupportedContentError(f"PDF is corrupt: page {index}: {exc}") from exc
        try:
            width_pt, height_pt = page.get_size()
            scale = _render_scale(width_pt, height_pt, self._max_image_pixels)
            dpi = max(1, round(scale * 72))
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
            finally:
                textpage.close()
            markdown = _clean_text_layer(text)
            if markdown:
                return OcrPage(
                    index,
                    markdown,
                    math.ceil(width_pt * scale),
                    math.ceil(height_pt * scale),
                    dpi,
                )
            bitmap = page.render(scale=scale)
            try:
                pixels = np.array(bitmap.to_numpy(), dtype=np.uint8, copy=True)
            finally:
                bitmap.close()
        except pdfium.PdfiumError as exc:
            raise UnsupportedContentError(f"PDF is corrupt: page {index}: {exc}") from exc
        finally:
            page.close()
        if pixels.ndim == _COLOUR_NDIM and pixels.shape[2] > _BGR_CHANNELS:  # BGRx/BGRA
            pixels = np.ascontiguousarray(pixels[:, :, :_BGR_CHANNELS])
        logger.debug("rendered PDF page %d at scale %.3f", index, scale)
        return _Raster(pixels, dpi)

    # -- images --------------------------------------------------------------------

    def _read_image(self, data: bytes, pages: list[int] | None) -> list[OcrPage]:
        count = _image_frame_count(data, self._max_image_pixels)
        self._check_page_count(count)
        result = []
        for index in _select_pages(pages, count):
            raster = _decode_image_frame(data, index, self._max_image_pixels)
            height, width = raster.pixels.shape[:2]
            markdown = self._ocr(raster.pixels)
            result.append(OcrPage(index, markdown, width, height, raster.dpi))
        return result

    # -- OCR -----------------------------------------------------------------------

    def _check_page_count(self, count: int) -> None:
        if count > self._max_pages:
            raise UnsupportedContentError(
                f"document has {count} pages, more than the limit of {self._max_pages}"
            )

    def _engine(self) -> _RapidOcr:
        """The RapidOCR instance, created on first use; the caller holds ``_lock``."""
        if self._rapidocr is None:
            # Imported here: rapidocr pulls onnxruntime and OpenCV (seconds of import).
            from rapidocr import RapidOCR

            logger.info("loading RapidOCR models")
            self._rapidocr = RapidOCR(
                params={"Global.log_level": "warning", "Global.use_cls": False}
            )
        return self._rapidocr

    def _ocr(self, pixels: NDArray[np.uint8]) -> str:
        """OCR one upright-or-rotated page (BGR or grayscale pixels) into Markdown."""
        if pixels.size == 0 or int(pixels.min()) == int(pixels.max()):
            return ""  # blank: nothing to detect, and RapidOCR would log a warning
        height, width = pixels.shape[:2]
        if max(height, width) > _MAX_ASPECT_RATIO * min(height, width):
            # RapidOCR shrinks the long side to 2000 px; the short one would vanish.
            raise UnsupportedContentError(
                f"page of {width}x{height} pixels is too elongated to read"
            )
        with self._lock:
            engine = self._engine()
            turns = _orientation(engine, pixels)
            if turns:
                pixels = np.ascontiguousarray(np.rot90(pixels, turns))
            result = engine(pixels, use_det=True, use_cls=False, use_rec=True)
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        if boxes is None or not texts:
            return ""
        return layout_markdown(boxes, texts)


def _orientation(engine: _RapidOcr, pixels: NDArray[np.uint8]) -> int:
    """Quarter turns (counter-clockwise, as ``np.rot90``) that make the page upright."""
    # Detection on a reduced copy is enough to find the text lines (RapidOCR's detector
    # works with the short side at 736 px anyway); crops come from the full resolution.
    factor = max(1, min(pixels.shape[:2]) // _ORIENTATION_SHORT_SIDE)
    small = pixels if factor == 1 else _reduce(pixels, factor)
    detected = engine(small, use_det=True, use_cls=False, use_rec=False)
    boxes = getattr(detected, "boxes", None)
    if boxes is None or len(boxes) == 0:
        return 0
    boxes = np.asarray(boxes, dtype=np.float64) * factor
    xs, ys = boxes[:, :, 0], boxes[:, :, 1]
    widths = xs.max(axis=1) - xs.min(axis=1)
    heights = ys.max(axis=1) - ys.min(axis=1)
    areas = widths * heights
    is_sideways = areas[heights > widths].sum() > areas[widths > heights].sum()
    candidates = (1, 3) if is_sideways else (0, 2)
    longest = np.argsort(-np.maximum(widths, heights))[:_SAMPLE_BOXES]
    crops = []
    for i in longest:
        x0, y0 = np.floor(boxes[i].min(axis=0)).astype(int)
        x1, y1 = np.ceil(boxes[i].max(axis=0)).astype(int)
        crop = pixels[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
        if crop.size:
            crops.append(crop)
    scores = {turns: _mean_rec_score(engine, crops, turns) for turns in candidates}
    best = max(candidates, key=lambda turns: scores[turns])
    logger.debug("orientation scores %s: %d quarter turns", scores, best)
    return best


def _reduce(pixels: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Shrink by an integer factor (box filter)."""
    reduced = Image.fromarray(pixels).reduce(factor)
    return np.ascontiguousarray(np.asarray(reduced, dtype=np.uint8))


def _mean_rec_score(engine: _RapidOcr, crops: list[NDArray[np.uint8]], turns: int) -> float:
    """Mean recognition confidence of the crops turned by ``turns`` quarter turns."""
    total = 0.0
    for crop in crops:
        line = np.ascontiguousarray(np.rot90(crop, turns))
        result = engine(line, use_det=False, use_cls=False, use_rec=True)
        texts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        if texts and scores and str(texts[0]).strip():
            total += float(scores[0])
    return total / len(crops) if crops else 0.0


@dataclass
class _Line:
    top: float
    bottom: float
    words: list[tuple[float, str]]


def layout_markdown(boxes: Iterable[ArrayLike], texts: Sequence[str]) -> str:
    """Join recognised text boxes in reading order.

    Boxes (N x 4 x 2 corner points) are grouped into lines by vertical overlap (more
    than half the smaller height), lines ordered top to bottom and words left to right.
    Words join with spaces, lines with ``\\n``; a gap above ``_PARAGRAPH_GAP`` x the
    median line height starts a new paragraph (a blank line).
    """
    items = []
    for box, text in zip(boxes, texts, strict=True):
        points = np.asarray(box, dtype=np.float64)
        if text.strip():
            items.append(
                (
                    float(points[:, 1].min()),
                    float(points[:, 1].max()),
                    float(points[:, 0].min()),
                    text.strip(),
                )
            )
    items.sort(key=lambda item: (item[0] + item[1]) / 2)
    lines: list[_Line] = []
    for top, bottom, left, text in items:
        if lines:
            line = lines[-1]
            overlap = min(line.bottom, bottom) - max(line.top, top)
            if overlap > 0.5 * min(line.bottom - line.top, bottom - top):
                line.top, line.bottom = min(line.top, top), max(line.bottom, bottom)
                line.words.append((left, text))
                continue
        lines.append(_Line(top, bottom, [(left, text)]))
    if not lines:
        return ""
    median_height = float(np.median([line.bottom - line.top for line in lines]))
    parts = []
    previous: _Line | None = None
    for line in lines:
        if previous is not None:
            gap = line.top - previous.bottom
            parts.append("\n\n" if gap > _PARAGRAPH_GAP * median_height else "\n")
        parts.append(" ".join(text for _, text in sorted(line.words)))
        previous = line
    return "".join(parts)


# -- helpers: PDF ------------------------------------------------------------------


def _open_pdf(data: bytes) -> pdfium.PdfDocument:
    """Open a PDF from bytes; the caller holds ``_PDFIUM_LOCK``."""
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) in (
            pdfium.raw.FPDF_ERR_PASSWORD,
            pdfium.raw.FPDF_ERR_SECURITY,
        ):
            raise UnsupportedContentError("PDF is encrypted") from exc
        raise UnsupportedContentError(f"PDF is corrupt: {exc}") from exc


def _render_scale(width_pt: float, height_pt: float, max_pixels: int) -> float:
    """Scale for ``RENDER_DPI``, lowered so the rendered width x height <= ``max_pixels``.

    PDFium renders ``ceil(width_pt x scale)`` x ``ceil(height_pt x scale)`` pixels.
    """
    if not (math.isfinite(width_pt) and math.isfinite(height_pt)) or min(width_pt, height_pt) <= 0:
        raise UnsupportedContentError(f"PDF page has an invalid size {width_pt}x{height_pt} pt")
    scale = RENDER_DPI / 72

    def pixels(s: float) -> int:
        return math.ceil(width_pt * s) * math.ceil(height_pt * s)

    if pixels(scale) > max_pixels:
        scale = math.sqrt(max_pixels / (width_pt * height_pt))
        while scale > 0 and pixels(scale) > max_pixels:
            scale *= 0.999
        if scale <= 0 or min(width_pt, height_pt) * scale < 1:
            raise UnsupportedContentError("PDF page is too large to render")
    return scale


def _clean_text_layer(text: str) -> str:
    """Normalise a PDFium text layer: ``\\n`` line ends, no control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = (
        char for char in text if char in "\n\t" or not unicodedata.category(char).startswith("C")
    )
    lines = "".join(kept).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def _select_pages(pages: list[int] | None, count: int) -> list[int]:
    """The 0-based indexes to read, ascending and unique; out of range is an error."""
    if pages is None:
        return list(range(count))
    for index in pages:
        if not 0 <= index < count:
            raise UnsupportedContentError(
                f"page index {index} is out of range (document has {count} pages)"
            )
    return sorted(set(pages))


# -- helpers: images ---------------------------------------------------------------


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """``Image.open`` plus the pixel cap, before any pixel is decoded.

    The caller turns ``DecompressionBombWarning`` into an error and catches ``_PIL_ERRORS``.
    """
    image = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
    if image.width * image.height > max_pixels:
        image.close()
        raise UnsupportedContentError(
            f"image of {image.width}x{image.height} pixels is over the limit of "
            f"{max_pixels} pixels"
        )
    return image


@contextmanager
def _pillow_guard(max_pixels: int) -> Iterator[None]:
    """Decode untrusted bytes with Pillow safely.

    Holds ``_PILLOW_LOCK`` (``warnings.catch_warnings`` is process-wide), turns
    ``DecompressionBombWarning`` into an error, logs Pillow's other warnings at debug
    level, and turns Pillow's errors into ``UnsupportedContentError``.
    """
    with _PILLOW_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except _PIL_ERRORS as exc:
            raise _unreadable(exc, max_pixels) from exc
        finally:
            for warning in caught:
                logger.debug("Pillow warning: %s", warning.message)


def _image_frame_count(data: bytes, max_pixels: int) -> int:
    """Pages of an image: the frames of a multi-page TIFF, else 1."""
    with _pillow_guard(max_pixels), _open_checked(data, max_pixels) as image:
        if image.format == "TIFF":
            return int(getattr(image, "n_frames", 1))
        return 1


def _decode_image_frame(data: bytes, index: int, max_pixels: int) -> _Raster:
    """Decode one frame to upright (EXIF) BGR pixels, transparency flattened on white."""
    with _pillow_guard(max_pixels), _open_checked(data, max_pixels) as image:
        image.seek(index)
        if image.width * image.height > max_pixels:
            raise UnsupportedContentError(
                f"image frame {index} is over the limit of {max_pixels} pixels"
            )
        dpi = _image_dpi(image.info.get("dpi"))
        rgb = _flatten_to_rgb(ImageOps.exif_transpose(image))
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])
    return _Raster(pixels, dpi)


def _unreadable(exc: BaseException, max_pixels: int) -> UnsupportedContentError:
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return UnsupportedContentError(f"image is over the limit of {max_pixels} pixels: {exc}")
    return UnsupportedContentError(f"image is unreadable: {exc}")


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _image_dpi(value: object) -> int:
    """Horizontal resolution from Pillow's ``info["dpi"]``, or ``RENDER_DPI``."""
    if isinstance(value, tuple) and value:
        try:
            dpi = round(float(value[0]))
        except (TypeError, ValueError, OverflowError):
            return RENDER_DPI
        if 1 <= dpi <= 10_000:  # noqa: PLR2004 - plausible resolutions only
            return dpi
    return RENDER_DPI
