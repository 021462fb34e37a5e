"""Where content could be left besides the stores: log records and temporary files (on disk,
or held open by the process after being unlinked)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from pipeline.settings import Settings

MAX_FILE_BYTES = 64 * 1024 * 1024

MAX_TEMP_ENTRIES = 200_000

FD_SAMPLE_S = 0.2

WIRE_TRACE_LOGGERS: dict[str, int] = {"aiokafka.conn": logging.INFO}
"""Captured only from this level: aiokafka.conn's DEBUG records are raw Kafka frames (fetched
input records included). modocr never emits them: ``configure_logging`` caps aiokafka at WARNING
at every ``MODOCR_LOG_LEVEL``."""


class _ListHandler(logging.Handler):
    """Keeps every formatted record (message, exception and stack) in a list."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """Capture all log output at DEBUG (but ``WIRE_TRACE_LOGGERS``); levels restored after."""
    handler = _ListHandler()
    root = logging.getLogger()
    loggers = [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved = {lg: (lg.level, lg.disabled) for lg in loggers}
    saved_root = root.level
    detached = [lg for lg in loggers if not lg.propagate]
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
    for lg in detached:
        lg.addHandler(handler)
    for name, level in WIRE_TRACE_LOGGERS.items():
        wire = logging.getLogger(name)
        saved.setdefault(wire, (wire.level, wire.disabled))
        wire.setLevel(level)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for lg in detached:
            lg.removeHandler(handler)
        for lg, (level, disabled) in saved.items():
            lg.setLevel(level)
            lg.disabled = disabled


def temp_dirs() -> list[Path]:
    """The temp directories to watch: ``tempfile.gettempdir()``, ``/var/tmp``, ``/dev/shm``."""
    found: dict[str, Path] = {}
    for name in (tempfile.gettempdir(), "/var/tmp", "/dev/shm"):  # noqa: S108 - watched, not used
        path = Path(name)
        if path.is_dir():
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def temp_listing(dirs: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """``path → (mtime_ns, size)`` of the regular files under ``dirs`` (bounded walk)."""
    listing: dict[str, tuple[int, int]] = {}
    stack = [str(d) for d in dirs]
    while stack and len(listing) < MAX_TEMP_ENTRIES:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        stat = entry.stat(follow_symlinks=False)
                        listing[entry.path] = (stat.st_mtime_ns, stat.st_size)
    return listing


def read_file(path: str) -> bytes | None:
    with contextlib.suppress(OSError), Path(path).open("rb") as file:
        return file.read(MAX_FILE_BYTES)
    return None


class OwnTempFiles:
    """Samples the process's open files: temp files (even unlinked ones) are read while open."""

    def __init__(self, dirs: Sequence[Path], excluded: set[str]) -> None:
        self._roots = tuple(os.path.realpath(d) + os.sep for d in dirs)
        self._excluded = excluded
        self.contents: dict[str, bytes] = {}

    def sample(self) -> None:
        fd_dir = Path("/proc/self/fd")
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    path = target.removesuffix(" (deleted)")
                    is_temp = path.startswith(self._roots) or target.endswith(" (deleted)")
                    if not is_temp or path in self._excluded or not path.startswith("/"):
                        continue
                    data = read_file(str(fd))
                    if data is not None:
                        self.contents[target] = data

    async def watch(self, stop: asyncio.Event) -> None:
        """Sample every ``FD_SAMPLE_S`` until ``stop``."""
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FD_SAMPLE_S):
                    await stop.wait()
        self.sample()


def sqlite_files(settings: Settings) -> set[str]:
    """The SQLite database's own files (searched as the database, not as temp files)."""
    url = make_url(settings.database_url.get_secret_value())
    if url.get_backend_name() != "sqlite" or not url.database:
        return set()
    path = os.path.realpath(url.database)
    return {path + suffix for suffix in ("", "-journal", "-wal", "-shm")}
