"""The cyclic garbage collector and a long-running worker.

A full collection walks every tracked object. After imports and start-up (modules, classes,
SQLAlchemy's and pydantic's machinery: about 110,000 objects) one took 60-110 ms on the
2-core machine, stopping the event loop each time, several times a minute under load. Those
objects live as long as the process, so they are frozen once start-up is done (after a
collection, so no garbage is frozen): later collections only walk what the work creates.
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_depth = 0


@contextlib.contextmanager
def startup_frozen() -> Iterator[None]:
    """Freeze the objects alive now for the block; unfreeze them after it (outermost only)."""
    global _depth  # noqa: PLW0603 - the collector itself is process-wide
    if _depth == 0:
        gc.collect()
        gc.freeze()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.unfreeze()
