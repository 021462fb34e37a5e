"""Fixtures of the ZDR and retention tests."""

from __future__ import annotations

import pytest

from pipeline.localapi.app import LocalApi
from pipeline.mistral.client import LOCAL_API_KEY


@pytest.fixture(scope="session")
def local_api() -> LocalApi:
    """One local Mistral API for the session: its engines load once."""
    return LocalApi(api_key=LOCAL_API_KEY)
