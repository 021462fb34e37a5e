"""modocr: moderation and OCR daemon."""

__version__ = "0.1.0"
