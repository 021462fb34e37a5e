"""The local Mistral-compatible API: offline default, the client's test double, benchmark upstream.

``LocalApi()`` builds the ASGI app (mount it with ``httpx.ASGITransport``) and
``serve_local_api()`` runs it on a loopback port.
"""

from pipeline.localapi.app import LocalApi, RequestRecord, create_app, estimate_tokens
from pipeline.localapi.faults import FailSpec, Faults
from pipeline.localapi.server import run_emulator, serve_local_api

__all__ = [
    "FailSpec",
    "Faults",
    "LocalApi",
    "RequestRecord",
    "create_app",
    "estimate_tokens",
    "run_emulator",
    "serve_local_api",
]
