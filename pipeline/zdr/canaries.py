"""What a canary is: a unique string OCR reads back, and how one is found in what was kept
(any case, inside base64, nested)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

CANARY_ALPHABET = "ACDEFHJKLMNPRTUVWXY"
"""Capitals OCR does not confuse with digits or each other (no O/0, I/1, S/5, Z/2, B/8, G/6)."""

CANARY_PREFIX = "ZDR"

CANARY_LETTERS = 10

PLACES: tuple[str, ...] = (
    "post text",
    "author",
    "metadata key",
    "metadata value",
    "conversation turn",
    "conversation last turn",
    "pdf text layer",
    "document filename",
    "document metadata",
    "scanned image",
    "oversized post",
    "corrupt pdf filename",
    "corrupt pdf bytes",
    "invalid record",
    "undecodable record",
    "non-json document record",
    "refused document url",
)
"""Where a canary is put; the last seven are inputs that fail (the dead-letter path)."""

_BASE64 = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")

_EXPAND_DEPTH = 3


def make_canaries(places: Sequence[str] = PLACES) -> dict[str, str]:
    """One unique, OCR-readable canary per place, e.g. ``ZDRKXMPTAHWCE``."""
    return {
        place: CANARY_PREFIX
        + "".join(secrets.choice(CANARY_ALPHABET) for _ in range(CANARY_LETTERS))
        for place in places
    }


def find_canaries(data: str | bytes, canaries: dict[str, str]) -> list[str]:
    """The places whose canary occurs in ``data``, also inside base64 (nested) and any case."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    haystacks = list(_expand(raw, _EXPAND_DEPTH))
    return [
        place
        for place, canary in canaries.items()
        if any(canary.lower().encode() in h for h in haystacks)
    ]


def _expand(raw: bytes, depth: int) -> Iterator[bytes]:
    """``raw`` lowercased, plus what its base64-looking runs decode to (recursively)."""
    yield raw.lower()
    if depth <= 0:
        return
    for match in _BASE64.finditer(raw):
        token = match.group()
        token = token[: len(token) - len(token) % 4] if not token.endswith(b"=") else token
        with contextlib.suppress(binascii.Error, ValueError):
            yield from _expand(base64.b64decode(token), depth - 1)
