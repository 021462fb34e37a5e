"""Fixtures of the local API unit tests: a fake clock, a fake OCR engine, an in-process client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import pytest

from pipeline.errors import UnsupportedContentError
from pipeline.localapi.app import LocalApi
from pipeline.localapi.moderation import ModerationEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

API_KEY = "sk-local-unit"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PDF_HEADER = b"%PDF-1.7\n"


@dataclass
class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it or calls ``advance``."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class FakePage:
    index: int
    markdown: str
    width: int
    height: int
    dpi: int


@dataclass
class FakeOcr:
    """Reads ``%PDF`` bytes as a 3-page document and images as one page; refuses the rest."""

    calls: list[tuple[int, str, list[int] | None]] = field(default_factory=list)

    def read(self, data: bytes, mime_type: str, pages: list[int] | None) -> list[FakePage]:
        self.calls.append((len(data), mime_type, pages))
        if mime_type == "application/pdf":
            if not data.startswith(b"%PDF"):
                raise UnsupportedContentError("Document is not a valid PDF.")
            count, size = 3, (1700, 2200)
        elif mime_type.startswith("image/"):
            count, size = 1, (640, 480)
        else:
            raise UnsupportedContentError(f"unsupported content type {mime_type!r}")
        wanted = list(range(count)) if pages is None else pages
        if any(index >= count for index in wanted):
            raise UnsupportedContentError("page index out of range")
        return [FakePage(i, f"# Page {i + 1}\n\ntext {i}", size[0], size[1], 200) for i in wanted]


@pytest.fixture(scope="session")
def moderation_engine() -> ModerationEngine:
    """The real moderation engine, loaded once (about 1 s) for the whole session."""
    return ModerationEngine()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_ocr() -> FakeOcr:
    return FakeOcr()


@pytest.fixture
def local_api(clock: FakeClock, fake_ocr: FakeOcr, moderation_engine: ModerationEngine) -> LocalApi:
    return LocalApi(
        API_KEY,
        clock=clock,
        sleep=clock.sleep,
        ocr_engine=fake_ocr,
        moderation_engine=moderation_engine,
    )


@pytest.fixture
async def client(local_api: LocalApi) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=local_api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as c:
        yield c
