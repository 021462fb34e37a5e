"""Serve the local API with uvicorn: in-process (tests) or blocking (``modocr emulator``)."""

from __future__ import annotations

import asyncio
import logging
import socket
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import uvicorn

from pipeline.localapi.app import LocalApi
from pipeline.localapi.faults import Faults

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 10.0
_STARTUP_POLL_S = 0.005


def _config(local_api: LocalApi, host: str, port: int) -> uvicorn.Config:
    # log_config=None: the CLI configures logging once; uvicorn must not replace it.
    return uvicorn.Config(
        local_api.app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


@asynccontextmanager
async def serve_local_api(
    local_api: LocalApi, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Run ``local_api`` on ``host:port`` (``0``: a free port) and yield its base URL.

    The server stops when the block exits (in-flight requests get about a second to finish).

    Raises:
        RuntimeError: uvicorn did not start within 10 s.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(local_api, host, bound_port))
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    base_url = f"http://{url_host}:{bound_port}"
    with sock:
        async with asyncio.TaskGroup() as group:
            serving = group.create_task(server.serve(sockets=[sock]))
            try:
                async with asyncio.timeout(_STARTUP_TIMEOUT_S):
                    while not server.started:
                        if serving.done():
                            raise RuntimeError("the local API server stopped during startup")
                        await asyncio.sleep(_STARTUP_POLL_S)
                logger.info("local Mistral API listening on %s", base_url)
                yield base_url
            finally:
                server.should_exit = True


def run_emulator(
    host: str = "127.0.0.1",
    port: int = 8787,
    api_key: str | None = None,
    faults: Faults | None = None,
) -> None:
    """Serve a fresh ``LocalApi`` until interrupted (``modocr emulator``); blocks the thread.

    Without ``faults``, the knobs come from ``MODOCR_LOCALAPI__FAULTS`` (none when unset).

    Raises:
        ValueError: ``MODOCR_LOCALAPI__FAULTS`` is not a valid set of knobs.
    """
    knobs = faults if faults is not None else Faults.from_env()
    local_api = LocalApi(api_key=api_key, faults=knobs)
    logger.info(
        "local Mistral API on http://%s:%d (api key %s)", host, port, "set" if api_key else "any"
    )
    uvicorn.Server(_config(local_api, host, port)).run()
