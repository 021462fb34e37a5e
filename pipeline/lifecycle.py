"""Process lifecycle: signals set a stop event; a second signal cancels at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """Yield an event set by the first SIGINT/SIGTERM; the second cancels the main task."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            logger.warning("second %s: exiting now", sig.name)
            if main is not None:
                main.cancel()
            return
        logger.info("%s: stopping, finishing in-flight work (again to exit at once)", sig.name)
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def wait_stopped(stop: asyncio.Event, delay_s: float) -> bool:
    """Sleep ``delay_s`` unless ``stop`` is set first; return whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay_s):
            await stop.wait()
    return stop.is_set()


async def wait_any(*events: asyncio.Event, timeout_s: float) -> None:
    """Return once any of ``events`` is set, or after ``timeout_s``."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
