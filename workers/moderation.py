"""The moderation worker: posts and conversations from ``modocr.posts``, moderated in batches.

Texts go as list inputs to ``/v1/moderations``, conversations as a list of conversations to
``/v1/chat/moderations``; once the API answers, its usage and the batch's results are written
(at once on PostgreSQL, where the results are one statement); redeliveries change nothing;
recently seen texts reuse their stored verdict.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.db.engine import translate_db_errors
from pipeline.dedupe import DedupePlan, dedupe_for
from pipeline.errors import UnsupportedContentError
from pipeline.kafka.runner import ConsumeOptions, Outcome
from pipeline.mistral.client import estimate_tokens
from pipeline.mistral.wire import ChatMessage
from pipeline.results import ItemResult, existing_keys, key_of, sha256_hex, store_results
from pipeline.usage import (
    Usage,
    budget_error,
    paused_tenants,
    record_usage_now,
    split_usage,
    utc_day,
)
from pipeline.worker import ConsumerSpec
from schemas.posts import POST_ADAPTER, ConversationPost, TextPost
from workers.relay import publish_staged

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from pipeline.kafka.records import Decoded
    from pipeline.policy import Judgement
    from pipeline.settings import Settings
    from pipeline.worker import Context

Post = TextPost | ConversationPost
T = TypeVar("T")


def _options(settings: Settings) -> ConsumeOptions:
    return ConsumeOptions(
        batch_max=settings.worker.moderation_batch_max,
        concurrency=settings.worker.moderation_concurrency,
        linger_s=settings.worker.moderation_linger_s,
        commit_interval_s=settings.worker.commit_interval_s,
        retry_pause_s=settings.worker.retry_pause_s,
        shutdown_grace_s=settings.worker.shutdown_grace_s,
    )


def content_of(post: Post) -> str:
    """The text a post is judged on, as stored: the text, or one ``role: content`` line a turn."""
    if isinstance(post, TextPost):
        return post.text
    return "\n".join(f"{t.role}: {t.content}" for t in post.messages)


def check_limits(post: Post, max_chars: int) -> None:
    """Refuse texts over the limit or with lone surrogates (not encodable as UTF-8)."""
    content = content_of(post)
    if len(content) > max_chars:
        raise UnsupportedContentError(
            f"text of {len(content)} characters is over the limit of {max_chars}"
        )
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsupportedContentError(
            f"text is not valid Unicode at character {exc.start}"
        ) from None


async def handle(ctx: Context, batch: list[Decoded[Post]]) -> list[Outcome]:
    """Moderate a batch; return one outcome per message (``None`` when done).

    Texts seen recently reuse their stored verdict (``pipeline.dedupe``); usage goes to
    ``api_usage``; a tenant over its daily budget waits (``BudgetExhaustedError``).
    """
    outcomes: dict[int, Outcome] = {}
    todo: list[tuple[int, Decoded[Post]]] = []
    seen: set[tuple[str, str, str]] = set()
    now = datetime.now(UTC)
    settings = ctx.settings
    dedupe = dedupe_for(ctx.mistral, settings.worker)
    async with ctx.database.autocommit() as session:
        with translate_db_errors():
            existing = await existing_keys(session, [d.message for d in batch])
            paused = await paused_tenants(
                session, [d.message.tenant for d in batch], settings.usage, now=now
            )
            for position, decoded in enumerate(batch):
                key = key_of(decoded.message)
                if key in existing or key in seen:
                    outcomes[position] = None  # a redelivery: the stored result stands
                    continue
                try:
                    check_limits(decoded.message, settings.limits.max_text_chars)
                except UnsupportedContentError as exc:
                    outcomes[position] = exc
                    continue
                if decoded.message.tenant in paused:
                    continue  # left for the next budget window
                seen.add(key)
                todo.append((position, decoded))
            plan = await dedupe.plan(
                session,
                [(p, d.message.text) for p, d in todo if isinstance(d.message, TextPost)],
                model=settings.mistral.moderation_model,
                policy_version=ctx.policy.version,
                now=now,
            )

    by_position = dict(todo)
    send = plan.to_send(by_position)
    moderated, usages = await _moderate(ctx, [by_position[p] for p in send])
    results = dict(zip(send, moderated, strict=True))
    for position, reuse in plan.reused.items():
        results[position] = _result(
            by_position[position], reuse.judgement, reuse.model, reuse.item_id
        )
    record_usage = record_usage_now(ctx.database, usages, settings.usage.prices, day=utc_day(now))
    stored = await _write(ctx, record_usage, _store(ctx, results, plan, by_position))
    dedupe.remember(plan, stored)
    for position, _ in todo:
        outcomes[position] = None
    if len(outcomes) < len(batch):
        raise budget_error(paused, now)
    return [outcomes[i] for i in range(len(batch))]


async def _write(
    ctx: Context, record_usage: Coroutine[Any, Any, None], store: Coroutine[Any, Any, T]
) -> T:
    """Record the usage and store the results: at once on PostgreSQL (two connections), one
    after the other on SQLite (one writer at a time). The store's error is raised first."""
    if ctx.database.dialect != "postgresql":
        await record_usage
        return await store
    outcomes: tuple[None | BaseException, T | BaseException] = await asyncio.gather(
        record_usage, store, return_exceptions=True
    )
    usage_error, stored = outcomes
    if isinstance(stored, BaseException):
        raise stored
    if isinstance(usage_error, BaseException):
        raise usage_error
    return stored


async def _store(
    ctx: Context,
    results: dict[int, ItemResult],
    plan: DedupePlan,
    by_position: dict[int, Decoded[Post]],
) -> dict[int, int]:
    """The results, then the batch's repeats (reusing them): one transaction on SQLite; on
    PostgreSQL one statement each, committed on its own (each item's rows and event are one
    statement, so they still commit together).

    Returns the ids of the items created, by batch position.
    """
    settings = ctx.settings
    database = ctx.database
    writes = database.autocommit if database.dialect == "postgresql" else database.sessions.begin
    with translate_db_errors():
        async with writes() as session:
            ids = await store_results(
                session,
                list(results.values()),
                policy=ctx.policy,
                retention=ctx.retention,
                flagged_topic=settings.topics.flagged,
            )
            followers = []
            for position, leader in plan.followers.items():
                first = results[leader]
                source = ids.get(key_of(first.message), first.reused_from_item_id)
                followers.append(
                    _result(by_position[position], first.judgement, first.model, source)
                )
            await store_results(
                session,
                followers,
                policy=ctx.policy,
                retention=ctx.retention,
                flagged_topic=settings.topics.flagged,
            )
    if any(r.judgement.flagged for r in [*results.values(), *followers]):
        await publish_staged(ctx)
    return {
        position: item_id
        for position, result in results.items()
        if (item_id := ids.get(key_of(result.message))) is not None
    }


async def _moderate(
    ctx: Context, batch: list[Decoded[Post]]
) -> tuple[list[ItemResult], list[Usage]]:
    texts = [(i, d) for i, d in enumerate(batch) if isinstance(d.message, TextPost)]
    conversations = [(i, d) for i, d in enumerate(batch) if isinstance(d.message, ConversationPost)]
    results: dict[int, ItemResult] = {}
    usages: list[Usage] = []
    for chunk in _chunks(texts, ctx.settings.worker.moderation_batch_max_chars):
        inputs = [content_of(d.message) for _, d in chunk]
        response = await ctx.mistral.moderate(inputs)
        usages += _usage(chunk, response.model, response.total_tokens)
        for (i, decoded), verdict in zip(chunk, response.results, strict=True):
            judgement = ctx.policy.judge(verdict.categories, verdict.category_scores)
            results[i] = _result(decoded, judgement, response.model)
    for chunk in _chunks(conversations, ctx.settings.worker.moderation_batch_max_chars):
        turns = [
            [ChatMessage(role=t.role, content=t.content) for t in d.message.messages]  # type: ignore[union-attr]
            for _, d in chunk
        ]
        response = await ctx.mistral.moderate_chat(turns)
        usages += _usage(chunk, response.model, response.total_tokens)
        for (i, decoded), verdict in zip(chunk, response.results, strict=True):
            judgement = ctx.policy.judge(verdict.categories, verdict.category_scores)
            results[i] = _result(decoded, judgement, response.model)
    return [results[i] for i in range(len(batch))], usages


def _usage(
    chunk: list[tuple[int, Decoded[Post]]], model: str, total_tokens: int | None
) -> list[Usage]:
    """One request's usage, split over the tenants of its inputs by characters."""
    weights: dict[str, int] = {}
    for _, decoded in chunk:
        tenant = decoded.message.tenant
        weights[tenant] = weights.get(tenant, 0) + len(content_of(decoded.message))
    tokens = (
        total_tokens
        if total_tokens is not None
        else estimate_tokens([content_of(d.message) for _, d in chunk])
    )
    return split_usage(model, weights, tokens=tokens)


def _chunks(
    items: list[tuple[int, Decoded[Post]]], max_chars: int
) -> list[list[tuple[int, Decoded[Post]]]]:
    """Split into requests of at most ``max_chars`` characters (a long text goes alone)."""
    chunks: list[list[tuple[int, Decoded[Post]]]] = []
    current: list[tuple[int, Decoded[Post]]] = []
    size = 0
    for entry in items:
        length = len(content_of(entry[1].message))
        if current and size + length > max_chars:
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += length
    if current:
        chunks.append(current)
    return chunks


def _result(
    decoded: Decoded[Post],
    judgement: Judgement,
    model: str,
    reused_from: int | None = None,
) -> ItemResult:
    content = content_of(decoded.message)
    return ItemResult(
        kind="post",
        message=decoded.message,
        delivery=decoded.delivery,
        content_sha256=sha256_hex(content),
        content_size=len(content),
        content=content,
        judgement=judgement,
        model=model,
        reused_from_item_id=reused_from,
    )


SPEC: ConsumerSpec[Post] = ConsumerSpec(
    name="moderation",
    item_kind="post",
    topic=lambda topics: topics.posts,
    adapter=POST_ADAPTER,
    handle=handle,
    options=_options,
)
