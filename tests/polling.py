"""Waiting for an effect in another process (a worker, a database): poll a check, bounded."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, interval_s: float = 0.1
) -> None:
    """Return once ``check()`` is true; ``TimeoutError`` after ``timeout_s``.

    For effects of other processes, which no in-process event can signal.
    """
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                return
            await asyncio.sleep(interval_s)
