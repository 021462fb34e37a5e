"""The OCR worker: documents from ``modocr.documents`` → ``/v1/ocr`` → moderation of the text.

Inline documents go to Mistral as data URIs, https documents as ``document_url`` (modocr never
fetches them). The extracted text is moderated in-process, page by page, split to fit the
model; pages, verdicts, flag, outbox event and API usage are written in one transaction.
The same bytes seen within the dedupe window reuse the stored pages and verdicts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipeline.db.engine import translate_db_errors
from pipeline.dedupe import stored_document
from pipeline.errors import UnsupportedContentError
from pipeline.intake import check_inline, check_url, content_type_of
from pipeline.kafka.runner import ConsumeOptions, Outcome
from pipeline.mistral.client import document_from_bytes, document_from_url, estimate_tokens
from pipeline.results import (
    ItemResult,
    PageResult,
    existing_keys,
    key_of,
    sha256_hex,
    store_result,
)
from pipeline.usage import Usage, budget_error, paused_tenants, record_usage_now, utc_day
from pipeline.worker import ConsumerSpec
from schemas.documents import DOCUMENT_ADAPTER, InlineDocument, UrlDocument
from workers.relay import publish_staged

if TYPE_CHECKING:
    from pipeline.dedupe import Reuse, StoredPage
    from pipeline.kafka.records import Decoded
    from pipeline.mistral.wire import OcrResponse
    from pipeline.policy import Judgement
    from pipeline.settings import Settings
    from pipeline.worker import Context

Document = InlineDocument | UrlDocument

CHUNK_CHARS = 8_000
"""Moderation input size for extracted text: well inside the model's context window."""


def _options(settings: Settings) -> ConsumeOptions:
    return ConsumeOptions(
        batch_max=1,
        concurrency=settings.worker.ocr_concurrency,
        commit_interval_s=settings.worker.commit_interval_s,
        retry_pause_s=settings.worker.retry_pause_s,
        shutdown_grace_s=settings.worker.shutdown_grace_s,
    )


async def handle(ctx: Context, batch: list[Decoded[Document]]) -> list[Outcome]:
    """OCR and moderate each document (the runner sends one at a time, several in flight)."""
    return [await _handle_one(ctx, decoded) for decoded in batch]


async def _handle_one(ctx: Context, decoded: Decoded[Document]) -> Outcome:
    message = decoded.message
    now = datetime.now(UTC)
    async with ctx.database.autocommit() as session:
        with translate_db_errors():
            if key_of(message) in await existing_keys(session, [message]):
                return None  # a redelivery: the stored result stands
            paused = await paused_tenants(session, [message.tenant], ctx.settings.usage, now=now)
    if paused:
        raise budget_error(paused, now)
    try:
        if isinstance(message, InlineDocument):
            checked = check_inline(message, ctx.settings.limits)
            document = document_from_bytes(checked.data, checked.content_type, message.filename)
            digest, size = sha256_hex(checked.data), len(checked.data)
            mime = checked.content_type
        else:
            document = document_from_url(check_url(message))
            digest, size = sha256_hex(message.url), message.size or 0
            mime = content_type_of(message.content_type)
    except UnsupportedContentError as exc:
        return exc

    usages: list[Usage] = []
    reused = await _stored(ctx, digest, now) if isinstance(message, InlineDocument) else None
    if reused is not None:
        source, stored = reused
        pages = [
            PageResult(p.index, p.markdown, p.width, p.height, p.dpi, p.judgement) for p in stored
        ]
        model = source.model
    else:
        response = await ctx.mistral.ocr(document, pages=message.pages)
        usages.append(
            Usage(
                message.tenant,
                response.model or ctx.settings.mistral.ocr_model,
                requests=1,
                pages=response.pages_processed,
            )
        )
        if len(response.pages) > ctx.settings.limits.max_pages:
            await _record_usage(ctx, usages, now)  # billed all the same
            return UnsupportedContentError(
                f"document has {len(response.pages)} pages, over the limit of "
                f"{ctx.settings.limits.max_pages}"
            )
        pages, model = await _moderate_pages(ctx, response, message.tenant, usages)
        await _record_usage(ctx, usages, now)
    judgements = [p.judgement for p in pages if p.judgement is not None]
    text = "\n\n".join(p.markdown for p in pages)
    result = ItemResult(
        kind="document",
        message=message,
        delivery=decoded.delivery,
        content_sha256=digest,
        content_size=size,
        content=text,
        judgement=ctx.policy.combine(judgements) if judgements else ctx.policy.judge({}, {}),
        model=model or ctx.settings.mistral.moderation_model,
        pages=pages,
        filename=message.filename,
        content_type=mime,
        reused_from_item_id=reused[0].item_id if reused is not None else None,
    )
    with translate_db_errors():
        async with ctx.database.sessions.begin() as session:
            await store_result(
                session,
                result,
                policy=ctx.policy,
                retention=ctx.retention,
                flagged_topic=ctx.settings.topics.flagged,
            )
    if result.judgement.flagged:
        await publish_staged(ctx)
    return None


async def _record_usage(ctx: Context, usages: list[Usage], now: datetime) -> None:
    await record_usage_now(ctx.database, usages, ctx.settings.usage.prices, day=utc_day(now))


async def _stored(
    ctx: Context, digest: str, now: datetime
) -> tuple[Reuse, list[StoredPage]] | None:
    """An identical document (same bytes) processed within the dedupe window, if any."""
    async with ctx.database.sessions() as session:
        with translate_db_errors():
            return await stored_document(
                session,
                digest,
                model=ctx.settings.mistral.moderation_model,
                policy_version=ctx.policy.version,
                window_s=ctx.settings.worker.dedupe_window_s,
                now=now,
            )


async def _moderate_pages(
    ctx: Context, response: OcrResponse, tenant: str, usages: list[Usage]
) -> tuple[list[PageResult], str]:
    """Moderate every page's text (split into chunks); a page's verdict is its chunks' maximum.

    Each moderation request's usage is appended to ``usages``.
    """
    chunks: list[tuple[int, str]] = []
    for page in response.pages:
        chunks.extend((page.index, chunk) for chunk in split_text(page.markdown, CHUNK_CHARS))
    per_page: dict[int, list[Judgement]] = {}
    model = ""
    batch_max = ctx.settings.worker.moderation_batch_max
    for start in range(0, len(chunks), batch_max):
        window = chunks[start : start + batch_max]
        texts = [text for _, text in window]
        moderation = await ctx.mistral.moderate(texts)
        model = moderation.model
        tokens = moderation.total_tokens
        usages.append(Usage(tenant, model, requests=1, tokens=tokens or estimate_tokens(texts)))
        for (index, _), verdict in zip(window, moderation.results, strict=True):
            judgement = ctx.policy.judge(verdict.categories, verdict.category_scores)
            per_page.setdefault(index, []).append(judgement)
    pages = []
    for page in response.pages:
        dims = page.dimensions
        parts = per_page.get(page.index, [])
        pages.append(
            PageResult(
                index=page.index,
                markdown=page.markdown,
                width=(dims.width if dims else None) or 0,
                height=(dims.height if dims else None) or 0,
                dpi=dims.dpi if dims else None,
                judgement=ctx.policy.combine(parts) if parts else None,
            )
        )
    return pages, model


def split_text(text: str, max_chars: int) -> list[str]:
    """Split at paragraph, then line, then word boundaries into pieces of ≤ ``max_chars``."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    for separator in ("\n\n", "\n", " "):
        parts = text.split(separator)
        if len(parts) > 1:
            break
    else:
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    pieces: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{separator}{part}" if current else part
        if len(candidate) <= max_chars:
            current = candidate
            continue
        if current:
            pieces.append(current)
        if len(part) > max_chars:
            pieces.extend(split_text(part, max_chars))
            current = ""
        else:
            current = part
    if current:
        pieces.append(current)
    return pieces


SPEC: ConsumerSpec[Document] = ConsumerSpec(
    name="ocr",
    item_kind="document",
    topic=lambda topics: topics.documents,
    adapter=DOCUMENT_ADAPTER,
    handle=handle,
    options=_options,
)
