"""Fixtures every test may use: retries without real waiting, settings built in-memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import stamina

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest_plugins = ["tests.db_fixtures", "tests.kafka_fixtures"]


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    """Retries run at most 3 attempts and never sleep in tests."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)
