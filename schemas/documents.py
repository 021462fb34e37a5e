"""Topic ``modocr.documents``: uploaded documents (PDFs, images) to OCR and moderate."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.inputs import InputMessage

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class DocumentBase(InputMessage):
    """What every document message says about the file."""

    filename: str | None = Field(
        default=None, max_length=1024, description="The uploaded file's name (not kept under ZDR)."
    )
    content_type: str = Field(
        min_length=1,
        max_length=255,
        description="MIME type: application/pdf, image/png, image/jpeg, image/webp, ...",
    )
    size: int | None = Field(default=None, ge=0, description="Size of the file in bytes.")
    sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="Lowercase hex SHA-256 of the file; checked when present (inline only).",
    )
    pages: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None,
        max_length=1000,
        description="0-based pages to read; all pages when absent.",
    )


class InlineDocument(DocumentBase):
    """The file travels inside the message, base64-encoded."""

    kind: Literal["inline"] = Field(default="inline", description="Discriminator.")
    data_base64: str = Field(min_length=1, description="The file's bytes, standard base64.")


class UrlDocument(DocumentBase):
    """The file stays with the producer; Mistral fetches it from a public https URL."""

    kind: Literal["url"] = Field(description="Discriminator.")
    url: str = Field(
        min_length=9,
        max_length=4096,
        description="A public https URL; modocr never fetches it itself.",
    )


Document = Annotated[InlineDocument | UrlDocument, Field(discriminator="kind")]
DOCUMENT_ADAPTER: TypeAdapter[InlineDocument | UrlDocument] = TypeAdapter(Document)
