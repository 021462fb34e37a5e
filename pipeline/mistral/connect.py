"""``open_mistral()``: the client for the configured base URL, in-process local API included.

``MODOCR_MISTRAL__BASE_URL=local`` (or ``auto`` without a key) mounts the local
Mistral-compatible app on ``httpx.ASGITransport``: the same client, one code path.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx

from pipeline.mistral.client import LOCAL_API_KEY, MistralClient
from pipeline.settings import LOCAL_API

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pipeline.localapi.app import LocalApi
    from pipeline.mistral.ratelimit import RateLimiter
    from pipeline.settings import MistralSettings


@asynccontextmanager
async def open_mistral(
    settings: MistralSettings,
    *,
    local_api: LocalApi | None = None,
    limiter: RateLimiter | None = None,
) -> AsyncIterator[MistralClient]:
    """Open the client: over the network, or in-process when the base URL is ``local``.

    Args:
        local_api: the local API to mount (tests pass one to set its fault knobs); by
            default one is created with the settings' API key. Ignored for a remote URL.
        limiter: the rate limiter (default: from ``settings.quota``).
    """
    if settings.resolved_base_url() != LOCAL_API:
        async with MistralClient.open(settings, limiter=limiter) as client:
            yield client
        return
    if local_api is None:
        from pipeline.localapi.app import LocalApi  # heavy engines: only when local

        # The client sends LOCAL_API_KEY when no key is configured (see MistralClient).
        key = settings.api_key.get_secret_value() if settings.api_key is not None else LOCAL_API_KEY
        local_api = LocalApi(api_key=key)
    transport = httpx.ASGITransport(app=local_api.app)
    async with MistralClient.open(settings, transport=transport, limiter=limiter) as client:
        yield client
