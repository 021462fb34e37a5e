"""The moderation worker: posts and conversations from ``modocr.posts``, moderated in batches.

Texts go as list inputs to ``/v1/moderations``, conversations as a list of conversations to
``/v1/chat/moderations``; one database transaction per batch; redeliveries change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.db.engine import translate_db_errors
from pipeline.errors import UnsupportedContentError
from pipeline.kafka.runner import ConsumeOptions, Outcome
from pipeline.mistral.wire import ChatMessage
from pipeline.results import ItemResult, existing_keys, key_of, sha256_hex, store_result
from pipeline.worker import ConsumerSpec
from schemas.posts import POST_ADAPTER, ConversationPost, TextPost

if TYPE_CHECKING:
    from pipeline.kafka.records import Decoded
    from pipeline.settings import Settings
    from pipeline.worker import Context

Post = TextPost | ConversationPost


def _options(settings: Settings) -> ConsumeOptions:
    return ConsumeOptions(
        batch_max=settings.worker.moderation_batch_max,
        concurrency=settings.worker.moderation_concurrency,
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
    """Moderate a batch; return one outcome per message (``None`` when done)."""
    outcomes: dict[int, Outcome] = {}
    todo: list[tuple[int, Decoded[Post]]] = []
    seen: set[tuple[str, str, str]] = set()
    async with ctx.database.sessions() as session:
        with translate_db_errors():
            existing = await existing_keys(session, [d.message for d in batch])
    for position, decoded in enumerate(batch):
        key = key_of(decoded.message)
        if key in existing or key in seen:
            outcomes[position] = None  # a redelivery: the stored result stands
            continue
        try:
            check_limits(decoded.message, ctx.settings.limits.max_text_chars)
        except UnsupportedContentError as exc:
            outcomes[position] = exc
            continue
        seen.add(key)
        todo.append((position, decoded))

    results = await _moderate(ctx, [d for _, d in todo])
    with translate_db_errors():
        async with ctx.database.sessions.begin() as session:
            for (position, _), result in zip(todo, results, strict=True):
                await store_result(
                    session,
                    result,
                    policy=ctx.policy,
                    retention=ctx.retention,
                    flagged_topic=ctx.settings.topics.flagged,
                )
                outcomes[position] = None
    return [outcomes[i] for i in range(len(batch))]


async def _moderate(ctx: Context, batch: list[Decoded[Post]]) -> list[ItemResult]:
    texts = [(i, d) for i, d in enumerate(batch) if isinstance(d.message, TextPost)]
    conversations = [(i, d) for i, d in enumerate(batch) if isinstance(d.message, ConversationPost)]
    results: dict[int, ItemResult] = {}
    for chunk in _chunks(texts, ctx.settings.worker.moderation_batch_max_chars):
        inputs = [content_of(d.message) for _, d in chunk]
        response = await ctx.mistral.moderate(inputs)
        for (i, decoded), verdict in zip(chunk, response.results, strict=True):
            results[i] = _result(
                ctx, decoded, verdict.categories, verdict.category_scores, response.model
            )
    for chunk in _chunks(conversations, ctx.settings.worker.moderation_batch_max_chars):
        turns = [
            [ChatMessage(role=t.role, content=t.content) for t in d.message.messages]  # type: ignore[union-attr]
            for _, d in chunk
        ]
        response = await ctx.mistral.moderate_chat(turns)
        for (i, decoded), verdict in zip(chunk, response.results, strict=True):
            results[i] = _result(
                ctx, decoded, verdict.categories, verdict.category_scores, response.model
            )
    return [results[i] for i in range(len(batch))]


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
    ctx: Context,
    decoded: Decoded[Post],
    categories: dict[str, bool],
    scores: dict[str, float],
    model: str,
) -> ItemResult:
    content = content_of(decoded.message)
    return ItemResult(
        kind="post",
        message=decoded.message,
        delivery=decoded.delivery,
        content_sha256=sha256_hex(content),
        content_size=len(content),
        content=content,
        judgement=ctx.policy.judge(categories, scores),
        model=model,
    )


SPEC: ConsumerSpec[Post] = ConsumerSpec(
    name="moderation",
    item_kind="post",
    topic=lambda topics: topics.posts,
    adapter=POST_ADAPTER,
    handle=handle,
    options=_options,
)
