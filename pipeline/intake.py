"""Checks a document passes before anything is sent to Mistral; failures are permanent.

Inline documents: known content type, valid base64, within the size limit, matching their
declared SHA-256 and their declared type's magic bytes, and (cheaply, without decoding)
within the page and pixel limits. URL documents: https to a public host only — modocr never
fetches them, Mistral does, so loopback, private and link-local targets are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pypdfium2
from PIL import Image, UnidentifiedImageError

from pipeline.errors import UnsupportedContentError

if TYPE_CHECKING:
    from pipeline.settings import LimitSettings
    from schemas.documents import InlineDocument, UrlDocument

PDF = "application/pdf"
IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/tiff", "image/gif", "image/bmp"}
)
SUPPORTED_TYPES = IMAGE_TYPES | {PDF}
_MAGIC: dict[str, tuple[bytes, ...]] = {
    PDF: (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "image/bmp": (b"BM",),
    "image/webp": (b"RIFF",),
}
_BLOCKED_HOSTS = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "metadata"})


@dataclass(frozen=True)
class CheckedDocument:
    """An inline document that passed the checks."""

    data: bytes
    content_type: str
    page_count: int


def content_type_of(declared: str) -> str:
    """The declared MIME type without parameters; refused when modocr cannot read it."""
    mime = declared.split(";", 1)[0].strip().lower()
    if mime == "image/jpg":
        mime = "image/jpeg"
    if mime not in SUPPORTED_TYPES:
        supported = ", ".join(sorted(SUPPORTED_TYPES))
        raise UnsupportedContentError(f"unsupported content type {mime!r} (supported: {supported})")
    return mime


def check_inline(document: InlineDocument, limits: LimitSettings) -> CheckedDocument:
    """Decode and vet an inline document; ``UnsupportedContentError`` says what is wrong."""
    mime = content_type_of(document.content_type)
    data = _decode(document.data_base64, limits.max_document_bytes)
    _check_declared(data, document.size, document.sha256)
    if not data.startswith(_MAGIC[mime]) or (mime == "image/webp" and data[8:12] != b"WEBP"):
        raise UnsupportedContentError(f"bytes are not a {mime} file (magic number mismatch)")
    pages = _pdf_pages(data, limits) if mime == PDF else _image_frames(data, limits)
    for index in document.pages or ():
        if index >= pages:
            raise UnsupportedContentError(f"page {index} requested but the document has {pages}")
    return CheckedDocument(data=data, content_type=mime, page_count=pages)


def _decode(encoded: str, max_bytes: int) -> bytes:
    if len(encoded) > (max_bytes * 4) // 3 + 4:
        raise UnsupportedContentError(f"document is over the size limit of {max_bytes} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UnsupportedContentError("data_base64 is not valid base64") from None
    if not data:
        raise UnsupportedContentError("document is empty")
    if len(data) > max_bytes:
        raise UnsupportedContentError(
            f"document of {len(data)} bytes is over the limit of {max_bytes}"
        )
    return data


def _check_declared(data: bytes, size: int | None, sha256: str | None) -> None:
    if size is not None and size != len(data):
        raise UnsupportedContentError(
            f"declared size {size} does not match the {len(data)} bytes received"
        )
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise UnsupportedContentError("declared sha256 does not match the bytes received")


def check_url(document: UrlDocument) -> str:
    """A document URL Mistral may fetch: https, a public host, no credentials."""
    content_type_of(document.content_type)
    try:
        parts = urlsplit(document.url)
    except ValueError:
        raise UnsupportedContentError("document url is not a valid URL") from None
    if parts.scheme != "https":
        raise UnsupportedContentError("document url must use https")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsupportedContentError("document url has no host")
    if parts.username or parts.password:
        raise UnsupportedContentError("document url must not carry credentials")
    if host in _BLOCKED_HOSTS or host.endswith((".localhost", ".local", ".internal")):
        raise UnsupportedContentError("document url points to a local host")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return document.url
    if not address.is_global:
        raise UnsupportedContentError("document url points to a non-public address")
    return document.url


def _pdf_pages(data: bytes, limits: LimitSettings) -> int:
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnsupportedContentError("PDF is encrypted") from None
        raise UnsupportedContentError("PDF is corrupt") from None
    try:
        count = len(pdf)
        if count == 0:
            raise UnsupportedContentError("PDF has no pages")
        if count > limits.max_pages:
            raise UnsupportedContentError(
                f"PDF has {count} pages, over the limit of {limits.max_pages}"
            )
        for index in range(count):
            _check_page_size(pdf, index)
        return count
    finally:
        pdf.close()


MAX_PAGE_SIDE_PT = 7200.0
"""Longest page side accepted: 100 inches (A0 is 46.8); larger pages are refused."""
MAX_PAGE_ASPECT = 50.0


def _check_page_size(pdf: pypdfium2.PdfDocument, index: int) -> None:
    """Refuse absurd page sizes before anything renders them."""
    width, height = pdf.get_page_size(index)
    if max(width, height) > MAX_PAGE_SIDE_PT:
        raise UnsupportedContentError(
            f"page {index} is {width:.0f}x{height:.0f} pt, over {MAX_PAGE_SIDE_PT:.0f} pt a side"
        )
    if min(width, height) <= 0 or max(width, height) / min(width, height) > MAX_PAGE_ASPECT:
        raise UnsupportedContentError(
            f"page {index} has an absurd shape ({width:.0f}x{height:.0f} pt)"
        )


def _image_frames(data: bytes, limits: LimitSettings) -> int:
    """Read only the header: size against the pixel limit, bombs refused before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                frames = int(getattr(image, "n_frames", 1))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedContentError("image is a decompression bomb") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UnsupportedContentError("image is corrupt or unreadable") from None
    if width * height > limits.max_image_pixels:
        raise UnsupportedContentError(
            f"image of {width}x{height} pixels is over the limit of {limits.max_image_pixels}"
        )
    if frames > limits.max_pages:
        raise UnsupportedContentError(
            f"image has {frames} frames, over the limit of {limits.max_pages}"
        )
    return 1
