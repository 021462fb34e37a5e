"""The review API on SQLite and PostgreSQL: filters, detail, decisions, audit, stats, ZDR."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select

from pipeline.db.models import Decision, Outbox
from schemas.decisions import DECISION_ADAPTER
from tests.integration.review import seed
from tests.integration.review.conftest import DECISIONS_TOPIC, config_for

if TYPE_CHECKING:
    from pipeline.db.engine import Database

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def all_pages(
    client: httpx.AsyncClient, token: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/flagged", params=query, headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_filters_and_cursor_pages_match_a_python_filter(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Every filter narrows the list exactly as the same predicate over the seeded rows."""
    tenant = seed.new_tenant()
    await seed.varied(database, tenant, 60)
    _, token = await seed.reviewer(database, "viewer")
    everything = await all_pages(client, token, {"tenant": tenant, "limit": 7})
    assert len(everything) == 60
    assert len({i["id"] for i in everything}) == 60
    created = [i["created_at"] for i in everything]
    assert created == sorted(created, reverse=True)

    cases: list[tuple[dict[str, Any], Any]] = [
        ({"status": ["open", "escalated"]}, lambda i: i["status"] in ("open", "escalated")),
        ({"category": ["pii"]}, lambda i: "pii" in i["categories"]),
        (
            {"category": ["sexual", "selfharm"]},
            lambda i: {"sexual", "selfharm"} & set(i["categories"]),
        ),
        ({"kind": "document"}, lambda i: i["kind"] == "document"),
        ({"source": "chat"}, lambda i: i["source"] == "chat"),
        ({"min_score": 0.8}, lambda i: i["max_score"] >= 0.8),
        (
            {"since": "2026-01-11T12:00:00+00:00", "until": "2026-01-12T00:00:00Z"},
            lambda i: "2026-01-11T12" <= i["created_at"][:13] < "2026-01-12",
        ),
        ({"q": "NUMBER 1"}, lambda i: "number 1" in (i["excerpt"] or "")),
    ]
    for params, predicate in cases:
        got = await all_pages(client, token, {"tenant": tenant, "limit": 9, **params})
        expected = [i for i in everything if predicate(i)]
        assert {i["id"] for i in got} == {i["id"] for i in expected}, params
        assert got, params


async def test_sort_by_score_pages_without_gaps(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Ties on the sort key are broken by id, so no row is skipped or repeated across pages."""
    tenant = seed.new_tenant()
    await seed.seed(database, tenant, [seed.Spec(score=s) for s in (0.7, 0.9, 0.9, 0.9, 0.8)])
    _, token = await seed.reviewer(database, "viewer")
    for sort in ("max_score", "-max_score", "created_at"):
        items = await all_pages(client, token, {"tenant": tenant, "sort": sort, "limit": 2})
        assert len({i["id"] for i in items}) == 5
        scores = [i["max_score"] for i in items]
        if sort == "max_score":
            assert scores == sorted(scores)
        if sort == "-max_score":
            assert scores == sorted(scores, reverse=True)


async def test_bad_cursor_is_a_400(client: httpx.AsyncClient, database: Database) -> None:
    """A forged cursor, or one from another sort order, is refused with 400."""
    tenant = seed.new_tenant()
    await seed.seed(database, tenant, [seed.Spec(), seed.Spec()])
    _, token = await seed.reviewer(database, "viewer")
    first = await client.get(
        "/api/v1/flagged", params={"tenant": tenant, "limit": 1}, headers=bearer(token)
    )
    cursor = first.json()["next_cursor"]
    other = await client.get(
        "/api/v1/flagged",
        params={"tenant": tenant, "cursor": cursor, "sort": "max_score"},
        headers=bearer(token),
    )
    assert other.status_code == 400
    junk = await client.get("/api/v1/flagged", params={"cursor": "!!"}, headers=bearer(token))
    assert junk.status_code == 400


async def test_detail_has_scores_model_policy_content_and_pages(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The item view carries every category score, model id, policy version and page verdicts."""
    tenant = seed.new_tenant()
    [flag_id] = await seed.seed(
        database, tenant, [seed.Spec(kind="document", pages=2, content="doc text")]
    )
    _, token = await seed.reviewer(database, "viewer")
    response = await client.get(f"/api/v1/flagged/{flag_id}", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == seed.MODEL
    assert body["policy_version"] == seed.POLICY
    assert set(body["category_scores"]) == set(seed.CATEGORIES)
    assert body["content"] == "doc text"
    assert body["reference"]["tenant"] == tenant
    assert [p["page_index"] for p in body["pages"]] == [0, 1]
    assert all(p["verdict"]["model"] == seed.MODEL for p in body["pages"])
    assert body["pages"][0]["markdown"] == "page 0 text"
    missing = await client.get("/api/v1/flagged/999999999", headers=bearer(token))
    assert missing.status_code == 404


async def test_zdr_shows_the_reference_and_refuses_text_search(
    db_url: str, database: Database
) -> None:
    """Under ZDR no content or excerpt is shown, only the reference; ?q= is a 400."""
    from pipeline.review.app import create_app

    tenant = seed.new_tenant()
    [flag_id] = await seed.seed(database, tenant, [seed.Spec(content="secret words")])
    _, token = await seed.reviewer(database, "viewer")
    app = create_app(config_for(db_url, zdr=True))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        detail = (await http.get(f"/api/v1/flagged/{flag_id}", headers=bearer(token))).json()
        listed = (
            await http.get("/api/v1/flagged", params={"tenant": tenant}, headers=bearer(token))
        ).json()
        search = await http.get("/api/v1/flagged", params={"q": "secret"}, headers=bearer(token))
        export = await http.get(
            "/api/v1/flagged/export", params={"q": "secret"}, headers=bearer(token)
        )
    assert detail["content"] is None
    assert detail["content_retained"] is False
    assert detail["reference"]["external_id"] == "ext-000000"
    assert all(p["markdown"] is None for p in detail["pages"])
    assert listed["items"][0]["excerpt"] is None
    assert search.status_code == 400
    assert export.status_code == 400


async def test_decision_writes_audit_row_and_outbox_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    """A decision bumps the version and stages exactly one DecisionEvent with the audit row."""
    tenant = seed.new_tenant()
    [flag_id] = await seed.seed(database, tenant, [seed.Spec()])
    name, token = await seed.reviewer(database, "reviewer")
    response = await client.post(
        f"/api/v1/flagged/{flag_id}/decisions",
        json={"action": "uphold", "version": 1, "note": "clear violation"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "upheld"
    assert body["version"] == 2
    assert body["decision"]["status_before"] == "open"
    async with database.sessions() as session:
        decisions = list(
            (await session.execute(select(Decision).where(Decision.flag_id == flag_id))).scalars()
        )
        events = [
            DECISION_ADAPTER.validate_json(o.value)
            for o in (
                await session.execute(select(Outbox).where(Outbox.topic == DECISIONS_TOPIC))
            ).scalars()
        ]
    assert [(d.action, d.reviewer, d.note) for d in decisions] == [
        ("uphold", name, "clear violation")
    ]
    mine = [e for e in events if e.flag_id == flag_id]
    assert len(mine) == 1
    assert (mine[0].status_before, mine[0].status_after, mine[0].tenant) == (
        "open",
        "upheld",
        tenant,
    )
    stale = await client.post(
        f"/api/v1/flagged/{flag_id}/decisions",
        json={"action": "dismiss", "version": 1},
        headers=bearer(token),
    )
    assert stale.status_code == 409


async def test_two_concurrent_decisions_one_wins_one_409(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Two reviewers decide on the same version at once: exactly one 200, one 409."""
    tenant = seed.new_tenant()
    [flag_id] = await seed.seed(database, tenant, [seed.Spec()])
    _, first = await seed.reviewer(database, "reviewer")
    _, second = await seed.reviewer(database, "reviewer")
    for _ in range(3):
        version = (await client.get(f"/api/v1/flagged/{flag_id}", headers=bearer(first))).json()[
            "version"
        ]
        results = await asyncio.gather(
            client.post(
                f"/api/v1/flagged/{flag_id}/decisions",
                json={"action": "uphold", "version": version},
                headers=bearer(first),
            ),
            client.post(
                f"/api/v1/flagged/{flag_id}/decisions",
                json={"action": "dismiss", "version": version},
                headers=bearer(second),
            ),
        )
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    async with database.sessions() as session:
        count = len(
            list(
                (
                    await session.execute(select(Decision).where(Decision.flag_id == flag_id))
                ).scalars()
            )
        )
    assert count == 3


async def test_claim_and_assign(client: httpx.AsyncClient, database: Database) -> None:
    """A reviewer claims a free flag; another cannot take it; an admin reassigns it."""
    tenant = seed.new_tenant()
    [flag_id] = await seed.seed(database, tenant, [seed.Spec()])
    alice, alice_token = await seed.reviewer(database, "reviewer")
    bob, bob_token = await seed.reviewer(database, "reviewer")
    _, admin_token = await seed.reviewer(database, "admin")
    url = f"/api/v1/flagged/{flag_id}"
    claimed = await client.post(f"{url}/claim", json={"version": 1}, headers=bearer(alice_token))
    assert claimed.json()["assignee"] == alice
    taken = await client.post(f"{url}/claim", json={"version": 2}, headers=bearer(bob_token))
    assert taken.status_code == 409
    moved = await client.post(
        f"{url}/assign", json={"version": 2, "assignee": bob}, headers=bearer(admin_token)
    )
    assert moved.status_code == 200
    assert moved.json()["assignee"] == bob
    nobody = await client.post(
        f"{url}/assign", json={"version": 3, "assignee": "no-such"}, headers=bearer(admin_token)
    )
    assert nobody.status_code == 404
    audit = await client.get(
        "/api/v1/audit", params={"flag_id": flag_id}, headers=bearer(admin_token)
    )
    assert [d["action"] for d in audit.json()["items"]] == ["assign", "claim"]


async def test_stats_count_by_category_status_and_day(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Stats agree with counts taken over the listed rows."""
    tenant = seed.new_tenant()
    await seed.varied(database, tenant, 40)
    _, token = await seed.reviewer(database, "viewer")
    items = await all_pages(client, token, {"tenant": tenant, "limit": 500})
    stats = (
        await client.get("/api/v1/stats", params={"tenant": tenant}, headers=bearer(token))
    ).json()
    assert stats["total"] == 40
    for category in seed.CATEGORIES:
        assert stats["by_category"].get(category, 0) == sum(
            category in i["categories"] for i in items
        )
    assert sum(stats["by_status"].values()) == 40
    assert stats["by_status"]["open"] == sum(i["status"] == "open" for i in items)
    assert set(stats["by_day"]) == {"2026-01-10", "2026-01-11", "2026-01-12"}
    assert sum(stats["by_day"].values()) == 40


async def test_export_csv_and_jsonl_match_the_list(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The export holds exactly the rows the list shows for the same filters."""
    tenant = seed.new_tenant()
    await seed.varied(database, tenant, 30)
    _, token = await seed.reviewer(database, "viewer")
    params: dict[str, Any] = {"tenant": tenant, "category": ["pii", "sexual"], "min_score": 0.6}
    listed = await all_pages(client, token, params)
    csv_body = await client.get(
        "/api/v1/flagged/export", params={**params, "format": "csv"}, headers=bearer(token)
    )
    assert csv_body.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_body.text)))
    jsonl = await client.get(
        "/api/v1/flagged/export", params={**params, "format": "jsonl"}, headers=bearer(token)
    )
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    ids = [i["id"] for i in listed]
    assert [int(r["flag_id"]) for r in rows] == ids
    assert [r["flag_id"] for r in records] == ids
    assert listed


async def test_reviewers_api_token_once_and_revocation(
    client: httpx.AsyncClient, database: Database
) -> None:
    """An admin creates a reviewer (token shown once, works), then revokes it (401 after)."""
    _, admin = await seed.reviewer(database, "admin")
    name = f"carol-{seed.new_tenant()}"
    created = await client.post(
        "/api/v1/reviewers", json={"name": name, "role": "viewer"}, headers=bearer(admin)
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert (await client.get("/api/v1/me", headers=bearer(token))).json()["name"] == name
    listed = (await client.get("/api/v1/reviewers", headers=bearer(admin))).json()
    assert token not in json.dumps(listed)
    dup = await client.post(
        "/api/v1/reviewers", json={"name": name, "role": "viewer"}, headers=bearer(admin)
    )
    assert dup.status_code == 409
    revoked = await client.post(f"/api/v1/reviewers/{name}/revoke", headers=bearer(admin))
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_healthz_and_openapi(client: httpx.AsyncClient) -> None:
    """/healthz answers without auth; the OpenAPI document lists the API and a bearer scheme."""
    health = await client.get("/healthz")
    assert health.json()["status"] == "ok"
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/flagged" in spec["paths"]
    assert "/login" not in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_naive_datetimes_and_nul_are_422(
    client: httpx.AsyncClient, database: Database
) -> None:
    """A naive ``since`` is refused, as is text no database can store or a time outside UTC."""
    _, token = await seed.reviewer(database, "viewer")
    naive = await client.get(
        "/api/v1/flagged", params={"since": "2026-01-01T00:00:00"}, headers=bearer(token)
    )
    assert naive.status_code == 422
    nul = await client.get("/api/v1/flagged", params={"tenant": "a\x00b"}, headers=bearer(token))
    assert nul.status_code == 422
    for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        # Found by schemathesis: these instants have no UTC form (OverflowError was a 500).
        for path in ("/api/v1/flagged", "/api/v1/stats", "/api/v1/flagged/export"):
            response = await client.get(path, params={"since": edge}, headers=bearer(token))
            assert response.status_code == 400, (path, edge)
