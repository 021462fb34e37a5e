"""Rows for the review tests, written with the ORM: items, verdicts, pages, flags, reviewers."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from pipeline.db.models import WHOLE_ITEM, DocumentPage, Flag, Item, Verdict
from pipeline.review import store

if TYPE_CHECKING:
    from pipeline.db.engine import Database

MODEL = "mistral-moderation-2411"
POLICY = "policy-2026-01"
CATEGORIES = ("hate_and_discrimination", "violence_and_threats", "pii", "sexual", "selfharm")
BASE_TIME = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Spec:
    """One flagged item to write."""

    categories: tuple[str, ...] = ("hate_and_discrimination",)
    score: float = 0.9
    kind: str = "post"
    source: str = "forum"
    status: str = "open"
    content: str | None = "some hateful words here"
    created_at: datetime = BASE_TIME
    pages: int = 0


def _scores(spec: Spec) -> dict[str, float]:
    return {c: (spec.score if c in spec.categories else 0.01) for c in CATEGORIES}


async def seed(database: Database, tenant: str, specs: list[Spec]) -> list[int]:
    """Write the items with their verdicts, pages and flags; return the flag ids in order."""
    async with database.sessions() as session, session.begin():
        item_rows: list[dict[str, Any]] = []
        for n, spec in enumerate(specs):
            text = spec.content or f"item {n}"
            item_rows.append(
                {
                    "kind": spec.kind,
                    "tenant": tenant,
                    "source": spec.source,
                    "external_id": f"ext-{n:06d}",
                    "content_sha256": hashlib.sha256(text.encode()).hexdigest(),
                    "content_size": len(text),
                    "page_count": spec.pages or None,
                    "received_at": spec.created_at,
                    "processed_at": spec.created_at,
                    "status": "processed",
                    "content": spec.content,
                }
            )
        await session.execute(insert(Item), item_rows)
        ids: dict[str, int] = dict(
            (await session.execute(select(Item.external_id, Item.id).where(Item.tenant == tenant)))
            .tuples()
            .all()
        )
        item_ids = [ids[f"ext-{n:06d}"] for n in range(len(specs))]
        verdicts: list[dict[str, Any]] = []
        pages: list[dict[str, Any]] = []
        flags: list[dict[str, Any]] = []
        for item_id, spec in zip(item_ids, specs, strict=True):
            scores = _scores(spec)
            verdict = {
                "item_id": item_id,
                "model": MODEL,
                "policy_version": POLICY,
                "category_scores": scores,
                "categories": {c: c in spec.categories for c in CATEGORIES},
                "flagged_categories": sorted(spec.categories),
                "flagged": True,
                "max_score": spec.score,
            }
            verdicts.append({**verdict, "page_index": WHOLE_ITEM})
            for page in range(spec.pages):
                verdicts.append({**verdict, "page_index": page})
                pages.append(
                    {
                        "item_id": item_id,
                        "page_index": page,
                        "width": 1240,
                        "height": 1754,
                        "dpi": 150,
                        "text_sha256": "0" * 64,
                        "char_count": 42,
                        "markdown": None if spec.content is None else f"page {page} text",
                    }
                )
            flags.append(
                {
                    "item_id": item_id,
                    "status": spec.status,
                    "categories": sorted(spec.categories),
                    "max_score": spec.score,
                    "version": 1,
                    "created_at": spec.created_at,
                    "updated_at": spec.created_at,
                }
            )
        await session.execute(insert(Verdict), verdicts)
        if pages:
            await session.execute(insert(DocumentPage), pages)
        await session.execute(insert(Flag), flags)
        found: dict[int, int] = dict(
            (await session.execute(select(Flag.item_id, Flag.id).where(Flag.item_id.in_(item_ids))))
            .tuples()
            .all()
        )
    return [found[i] for i in item_ids]


async def varied(database: Database, tenant: str, count: int) -> list[int]:
    """``count`` flags cycling through categories, statuses, kinds, sources, days and scores."""
    statuses = ("open", "upheld", "dismissed", "escalated")
    specs = [
        Spec(
            categories=tuple(sorted({CATEGORIES[n % 5]} | (set() if n % 7 else {"pii"}))),
            score=round(0.5 + (n % 50) / 100, 2),
            kind="document" if n % 3 == 0 else "post",
            source=("forum", "chat")[n % 2],
            status=statuses[n % 4],
            content=f"message number {n} with words",
            created_at=BASE_TIME + timedelta(hours=n % 72, seconds=n),
        )
        for n in range(count)
    ]
    return await seed(database, tenant, specs)


async def reviewer(database: Database, role: str) -> tuple[str, str]:
    """A new reviewer with ``role``; returns (name, token)."""
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    async with database.sessions() as session, session.begin():
        _, token = await store.add_reviewer(session, name, role)
    return name, token


async def revoked(database: Database) -> tuple[str, str]:
    """A reviewer (admin role) whose token is revoked; returns (name, token)."""
    name, token = await reviewer(database, "admin")
    async with database.sessions() as session, session.begin():
        await store.revoke_reviewer(session, name)
    return name, token
