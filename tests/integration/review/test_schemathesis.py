"""Property-based run of the OpenAPI document against the ASGI app: no request gets a 5xx.

Schemathesis generates requests for every operation (valid and invalid parameters, bodies,
paths) from the served schema, on a seeded database, authenticated as an admin.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis

# Imported here, at collection, not lazily from deep inside a running test: on CPython 3.11.7
# pytest's assertion rewriting of this large module can fail with "AST constructor recursion
# depth mismatch" when the import happens with a deep stack.
import schemathesis.specs.openapi.adapter.parameters
import schemathesis.specs.openapi.definitions
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from pipeline.db.engine import open_database, upgrade_database
from pipeline.review.app import create_app
from tests.integration.review import seed
from tests.integration.review.conftest import config_for

if TYPE_CHECKING:
    from schemathesis import Case


pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def seeded_url(empty_db_url: str) -> str:
    """A fresh database of each backend, migrated and seeded with two dozen flags.

    Fresh, so the run's cost does not depend on what other tests left behind (the 10,000-row
    export test, for one): unfiltered list and export requests read every row.
    """
    await upgrade_database(empty_db_url)
    async with open_database(empty_db_url) as database:
        await seed.varied(database, seed.new_tenant(), 24)
    return empty_db_url


@pytest.fixture
async def admin_token(seeded_url: str) -> str:
    async with open_database(seeded_url) as database:
        _, token = await seed.reviewer(database, "admin")
    return token


@pytest.mark.timeout(120)
def test_no_server_errors(seeded_url: str, admin_token: str) -> None:
    """Every operation answers below 500 (30 examples each, valid and invalid)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(config_for(seeded_url)))
    headers = {"Authorization": f"Bearer {admin_token}"}
    failures: list[str] = []
    operations = 0
    statuses: Counter[int] = Counter()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # Err raises here
            operations += 1
            strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
                GenerationMode.NEGATIVE
            )

            @settings(
                max_examples=30,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Case[Any]) -> None:
                response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
                statuses[response.status_code] += 1

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{operation.label}: {exc}")
    finally:
        shutdown_lifespans()
    print(f"{operations} operations, {sum(statuses.values())} requests: {dict(statuses)}")  # noqa: T201
    assert operations >= 13
    assert sum(statuses.values()) >= operations * 10
    assert failures == [], "\n".join(failures)
