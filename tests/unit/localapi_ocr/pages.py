"""Builders of test documents with known text: reportlab PDFs and Pillow scans."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
import reportlab
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from rapidfuzz.distance import Levenshtein
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

PARAGRAPH = (
    "The harbour committee met on a windy Tuesday in March to review the plans for the "
    "new ferry terminal. Engineers reported that the old pier needs 42 new steel piles, "
    "and the budget was raised to 1,250,000 euros after a long debate. Fishermen asked "
    "for a separate landing stage so that their boats are not delayed by passenger "
    "traffic. The committee agreed to publish the final design in June and to invite "
    "comments from residents, schools and local businesses before any work begins."
)
SCAN_DPI = 200
FONT_PT = 11
VERA = Path(reportlab.__file__).resolve().parent / "fonts" / "Vera.ttf"


def collapse(text: str) -> str:
    return " ".join(text.split())


def cer(reference: str, hypothesis: str) -> float:
    """Levenshtein(ref, hyp) / len(ref), whitespace collapsed on both sides."""
    ref, hyp = collapse(reference), collapse(hypothesis)
    return Levenshtein.distance(ref, hyp) / len(ref)


def scan(text: str = PARAGRAPH, *, dpi: int = SCAN_DPI) -> Image.Image:
    """An A4 grayscale page at ``dpi`` with ``text`` typeset in Vera 11 pt."""
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    size_px = round(FONT_PT * dpi / 72)
    font = ImageFont.truetype(str(VERA), size_px)
    y = dpi
    for line in textwrap.wrap(text, 80):
        draw.text((dpi, y), line, font=font, fill=0)
        y += round(size_px * 1.4)
    return page


def noisy(page: Image.Image, seed: int = 7) -> Image.Image:
    """Mild scanner noise: 0.6 px blur and Gaussian grain (sigma 12)."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(page.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float64)
    pixels += rng.normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def image_bytes(page: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    page.save(buffer, fmt, **params)
    return buffer.getvalue()


def text_pdf(pages: list[str], *, pagesize: tuple[float, float] = A4) -> bytes:
    """A PDF with a real text layer, one page per text (Helvetica 11 pt)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=pagesize, invariant=1)
    for text in pages:
        obj = pdf.beginText(72, pagesize[1] - 72)
        obj.setFont("Helvetica", 11)
        for line in textwrap.wrap(text, 85):
            obj.textLine(line)
        pdf.drawText(obj)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def blank_pdf(pagesize: tuple[float, float]) -> bytes:
    """One empty page of the given size in points (no text layer)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=pagesize, invariant=1)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf(page: Image.Image, dpi: int = SCAN_DPI) -> bytes:
    """An image-only PDF page holding ``page`` at ``dpi``."""
    buffer = io.BytesIO()
    size = (page.width * 72 / dpi, page.height * 72 / dpi)
    pdf = canvas.Canvas(buffer, pagesize=size, invariant=1)
    pdf.drawImage(ImageReader(page), 0, 0, *size)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt="secret", invariant=1)
    pdf.drawString(72, 720, "Top secret")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
