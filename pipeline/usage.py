"""API usage accounting (``api_usage``) with estimated costs, and daily per-tenant budgets.

Every Mistral response reports its usage (tokens, pages); the worker turns it into ``Usage``
records in the same transaction as the results, upserted per (UTC day, model, tenant). A
request mixing several tenants' inputs is split by their share of the characters (tokens and
pages to the largest remainder, so totals match); the request itself counts once, for the
tenant with the largest share. Costs come from ``UsageSettings.prices``.

A tenant whose estimated cost today reaches its budget is paused: the worker leaves its inputs
unprocessed and raises ``BudgetExhaustedError`` (transient, ``retry_after`` = seconds to the
next UTC midnight), so the runner pauses those partitions and retries in the next window.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from pipeline.db.engine import translate_db_errors
from pipeline.db.models import ApiUsage
from pipeline.db.queries import dialect_name
from pipeline.errors import TransientError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Insert, Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from pipeline.db.engine import Database
    from pipeline.settings import ModelPrice, UsageSettings

MAX_RETRY_AFTER_S = 60.0
"""The runner re-checks a paused tenant at least this often (its backoff cap)."""


class BudgetExhaustedError(TransientError):
    """Tenants' daily budgets are spent; their inputs wait for the next UTC day."""

    def __init__(self, tenants: Sequence[str], retry_after: float) -> None:
        super().__init__(f"daily budget spent for tenant(s) {', '.join(sorted(tenants))}")
        self.tenants = sorted(tenants)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Usage:
    """One tenant's part of one or more requests to one model."""

    tenant: str
    model: str
    requests: int = 0
    tokens: int = 0
    pages: int = 0


def price_of(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of a returned model id: exact key, else the longest key that prefixes it."""
    if (exact := prices.get(model)) is not None:
        return exact
    matches = [key for key in prices if model.startswith(key)]
    return prices[max(matches, key=len)] if matches else None


def cost_of(usage: Usage, prices: Mapping[str, ModelPrice]) -> float:
    """Estimated US dollars: tokens at the per-million price plus pages at the per-1,000 one."""
    price = price_of(usage.model, prices)
    if price is None:
        return 0.0
    return (
        usage.tokens * price.per_million_tokens / 1e6 + usage.pages * price.per_thousand_pages / 1e3
    )


def split_usage(
    model: str, weights: Mapping[str, int], *, tokens: int = 0, pages: int = 0
) -> list[Usage]:
    """One request's usage split over tenants by weight (e.g. characters of their inputs)."""
    if not weights:
        return []
    total = sum(weights.values()) or len(weights)
    tenants = sorted(weights, key=lambda t: (-weights[t], t))
    shares = {t: (weights[t] or (0 if sum(weights.values()) else 1)) / total for t in tenants}

    def apportion(amount: int) -> dict[str, int]:
        exact = {t: amount * shares[t] for t in tenants}
        floors = {t: math.floor(v) for t, v in exact.items()}
        left = amount - sum(floors.values())
        for t in sorted(tenants, key=lambda t: floors[t] - exact[t])[:left]:
            floors[t] += 1
        return floors

    token_parts, page_parts = apportion(tokens), apportion(pages)
    return [
        Usage(
            tenant=t,
            model=model,
            requests=1 if t == tenants[0] else 0,
            tokens=token_parts[t],
            pages=page_parts[t],
        )
        for t in tenants
    ]


async def record_usage(
    session: AsyncSession,
    usages: Sequence[Usage],
    prices: Mapping[str, ModelPrice],
    *,
    day: date,
) -> None:
    """Add usages to today's ``api_usage`` rows (one upsert per day, model and tenant)."""
    merged: dict[tuple[str, str], list[int]] = {}
    for usage in usages:
        counts = merged.setdefault((usage.model, usage.tenant), [0, 0, 0])
        counts[0] += usage.requests
        counts[1] += usage.tokens
        counts[2] += usage.pages
    if not merged:
        return
    rows = [
        {
            "day": day,
            "model": model,
            "tenant": tenant,
            "requests": requests,
            "tokens": tokens,
            "pages": pages,
            "estimated_cost": cost_of(Usage(tenant, model, requests, tokens, pages), prices),
        }
        for (model, tenant), (requests, tokens, pages) in sorted(merged.items())
    ]
    connection = await session.connection()
    await connection.execute(_upsert(dialect_name(session)), rows)


async def record_usage_now(
    database: Database,
    usages: Sequence[Usage],
    prices: Mapping[str, ModelPrice],
    *,
    day: date,
) -> None:
    """``record_usage`` on its own, right after the API answered, not in the results'
    transaction: the request is billed whether or not the results commit, and the day's row,
    which every batch updates, stays locked for one statement instead of a whole transaction
    (concurrent batches queued behind it)."""
    if not usages:
        return
    with translate_db_errors():
        async with database.autocommit() as session:
            await record_usage(session, usages, prices, day=day)
            await session.commit()


@functools.cache
def _upsert(dialect: str) -> Insert:
    """``INSERT … ON CONFLICT (day, model, tenant) DO UPDATE`` adding to the counts.

    Built once per dialect and executed with the rows as parameters (one compiled statement,
    cached), instead of a new statement per row.
    """
    table = cast("Table", ApiUsage.__table__)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=["day", "model", "tenant"],
        set_={
            name: table.c[name] + statement.excluded[name]
            for name in ("requests", "tokens", "pages", "estimated_cost")
        },
    )


def utc_day(now: datetime) -> date:
    """The UTC day of an aware datetime (the accounting and budget window)."""
    return now.astimezone(UTC).date()


def seconds_to_next_day(now: datetime) -> float:
    """Seconds from ``now`` to the next midnight UTC."""
    utc = now.astimezone(UTC)
    midnight = datetime.combine(utc.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - utc).total_seconds()


def budget_of(tenant: str, settings: UsageSettings) -> float | None:
    """A tenant's daily budget in US dollars, or ``None`` for none."""
    return settings.daily_budget_usd.get(tenant, settings.default_daily_budget_usd)


def has_budgets(settings: UsageSettings) -> bool:
    return bool(settings.daily_budget_usd) or settings.default_daily_budget_usd is not None


async def spent_today(
    session: AsyncSession, tenants: Sequence[str], *, day: date
) -> dict[str, float]:
    """Estimated cost per tenant on ``day`` (tenants without usage are absent)."""
    rows = await session.execute(
        select(ApiUsage.tenant, func.sum(ApiUsage.estimated_cost))
        .where(ApiUsage.day == day, ApiUsage.tenant.in_(list(set(tenants))))
        .group_by(ApiUsage.tenant)
    )
    return {tenant: float(total or 0.0) for tenant, total in rows.all()}


async def paused_tenants(
    session: AsyncSession, tenants: Sequence[str], settings: UsageSettings, *, now: datetime
) -> set[str]:
    """The tenants among ``tenants`` whose budget for ``now``'s UTC day is spent."""
    if not has_budgets(settings) or not tenants:
        return set()
    budgeted = [t for t in set(tenants) if budget_of(t, settings) is not None]
    if not budgeted:
        return set()
    spent = await spent_today(session, budgeted, day=utc_day(now))
    return {t for t in budgeted if spent.get(t, 0.0) >= (budget_of(t, settings) or 0.0)}


def budget_error(tenants: set[str], now: datetime) -> BudgetExhaustedError:
    """The error that pauses these tenants until the next UTC day (re-checked every minute)."""
    return BudgetExhaustedError(
        sorted(tenants), retry_after=min(seconds_to_next_day(now), MAX_RETRY_AFTER_S)
    )
