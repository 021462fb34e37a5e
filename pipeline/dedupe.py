"""Dedupe: identical content under the same model and policy is never sent to Mistral twice.

Within a window (``MODOCR_WORKER__DEDUPE_WINDOW_S``), an input whose content matches an item
already processed reuses that item's stored verdict; the new item records where its verdict
came from (``items.reused_from_item_id``). Texts match on the SHA-256 of their normalised form
(Unicode NFKC, whitespace collapsed, trimmed), looked up in a bounded in-process cache; exact
content (``items.content_sha256``: raw text, or document bytes) is also looked up in the
database, which finds matches across replicas and restarts.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from pipeline.db.models import WHOLE_ITEM, DocumentPage, Item, Verdict
from pipeline.db.queries import one_of
from pipeline.policy import Judgement
from pipeline.results import sha256_hex

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from pipeline.settings import WorkerSettings

_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, whitespace runs as one space, trimmed (case is kept: it can change a verdict)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def text_key(text: str, model: str, policy_version: str) -> bytes:
    """The dedupe key of a text: SHA-256 of model, policy version and the normalised text."""
    digest = hashlib.sha256(f"{model}\x00{policy_version}\x00".encode())
    digest.update(normalise(text).encode("utf-8", "surrogatepass"))
    return digest.digest()


@dataclass(frozen=True)
class Reuse:
    """A stored verdict another item may reuse."""

    item_id: int
    model: str
    judgement: Judgement


class RecentKeys:
    """A bounded LRU of dedupe keys → item id, entries expiring after ``window_s``.

    Only ids are kept (the verdict is read from the database on a hit), so 20,000 entries
    take a few MB.
    """

    def __init__(
        self, max_entries: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_entries
        self._window_s = window_s
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> int | None:
        found = self._entries.get(key)
        if found is None:
            return None
        item_id, at = found
        if self._clock() - at > self._window_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return item_id

    def put(self, key: bytes, item_id: int) -> None:
        if self._max <= 0:
            return
        self._entries[key] = (item_id, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


async def stored_verdicts(
    session: AsyncSession,
    *,
    item_ids: Iterable[int] = (),
    content_sha256: Iterable[str] = (),
    kind: str,
    model: str,
    policy_version: str,
    window_s: float,
    now: datetime | None = None,
) -> tuple[dict[int, Reuse], dict[str, Reuse]]:
    """Whole-item verdicts of processed items of ``kind`` within the window, by id and by hash.

    ``model`` is matched as a prefix of the stored (returned, dated) model id, so that
    ``mistral-moderation-latest`` and ``mistral-moderation-2603`` both find their own.
    Reused items are never a source (the chain ends at the item that called the API).
    """
    ids, hashes = list(set(item_ids)), list(set(content_sha256))
    if not ids and not hashes:
        return {}, {}
    since = (now or datetime.now(UTC)) - timedelta(seconds=window_s)
    # Two indexed steps (items by id or hash, then their verdicts by item id): one join over
    # both tables lets the planner scan all verdicts while the statistics are stale.
    candidates: dict[int, str] = {}
    for column, values in ((Item.id, ids), (Item.content_sha256, hashes)):
        if not values:
            continue
        found = await session.execute(
            select(Item.id, Item.content_sha256).where(
                one_of(session, column, values),
                Item.kind == kind,
                Item.status == "processed",
                Item.processed_at >= since,
                Item.reused_from_item_id.is_(None),
            )
        )
        candidates.update(found.tuples().all())
    if not candidates:
        return {}, {}
    rows = await session.execute(
        select(
            Verdict.item_id,
            Verdict.model,
            Verdict.categories,
            Verdict.category_scores,
            Verdict.flagged_categories,
        )
        .where(
            one_of(session, Verdict.item_id, sorted(candidates)),
            Verdict.page_index == WHOLE_ITEM,
            Verdict.policy_version == policy_version,
        )
        .order_by(Verdict.item_id)
    )
    by_id: dict[int, Reuse] = {}
    by_hash: dict[str, Reuse] = {}
    for item_id, stored_model, categories, scores, flagged in rows.all():
        if not _same_model(model, stored_model):
            continue
        reuse = Reuse(item_id, stored_model, Judgement(categories, scores, list(flagged)))
        by_id[item_id] = reuse
        by_hash.setdefault(candidates[item_id], reuse)
    return by_id, by_hash


def _same_model(requested: str, stored: str) -> bool:
    if requested == stored or stored.startswith(requested):
        return True
    # "-latest" resolves to a dated id: any dated id of the same family matches.
    family = requested.removesuffix("-latest")
    return requested.endswith("-latest") and stored.startswith(family)


@dataclass
class DedupePlan:
    """What a batch of texts needs: positions reusing a stored verdict, positions repeating
    another position of the same batch (its leader), and every position's key."""

    keys: dict[int, bytes] = field(default_factory=dict)
    reused: dict[int, Reuse] = field(default_factory=dict)
    followers: dict[int, int] = field(default_factory=dict)

    def to_send(self, positions: Iterable[int]) -> list[int]:
        """The positions that must go to the API."""
        return [p for p in positions if p not in self.reused and p not in self.followers]


class TextDedupe:
    """Plans a batch of texts against the recent keys and the database; one per process."""

    def __init__(
        self, max_entries: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self.recent = RecentKeys(max_entries, window_s, clock)

    async def plan(
        self,
        session: AsyncSession,
        texts: Sequence[tuple[int, str]],
        *,
        model: str,
        policy_version: str,
        now: datetime | None = None,
    ) -> DedupePlan:
        """Find, for each ``(position, text)``, a stored verdict or an earlier equal text."""
        plan = DedupePlan()
        leaders: dict[bytes, int] = {}
        for position, text in texts:
            key = plan.keys[position] = text_key(text, model, policy_version)
            if key in leaders:
                plan.followers[position] = leaders[key]
            else:
                leaders[key] = position
        if self.window_s <= 0 or not leaders:
            return plan
        text_at = dict(texts)
        digests = {p: sha256_hex(text_at[p]) for p in leaders.values()}
        cached = {p: i for k, p in leaders.items() if (i := self.recent.get(k)) is not None}
        by_id, by_hash = await stored_verdicts(
            session,
            item_ids=cached.values(),
            content_sha256=digests.values(),
            kind="post",
            model=model,
            policy_version=policy_version,
            window_s=self.window_s,
            now=now,
        )
        for position in leaders.values():
            reuse = by_id.get(cached.get(position, -1)) or by_hash.get(digests[position])
            if reuse is not None:
                plan.reused[position] = reuse
        for follower, leader in list(plan.followers.items()):
            if leader in plan.reused:
                plan.reused[follower] = plan.reused[leader]
                del plan.followers[follower]
        return plan

    def remember(self, plan: DedupePlan, item_ids: Mapping[int, int]) -> None:
        """Keep the keys of the positions stored (``position → item id``) for later batches."""
        for position, item_id in item_ids.items():
            if position in plan.followers:
                continue
            reuse = plan.reused.get(position)
            self.recent.put(plan.keys[position], reuse.item_id if reuse else item_id)


_PLANNERS: weakref.WeakKeyDictionary[object, TextDedupe] = weakref.WeakKeyDictionary()


def dedupe_for(owner: object, settings: WorkerSettings) -> TextDedupe:
    """The process's planner, kept as long as ``owner`` (the Mistral client) lives."""
    found = _PLANNERS.get(owner)
    if found is None:
        found = _PLANNERS[owner] = TextDedupe(
            settings.dedupe_cache_entries, settings.dedupe_window_s
        )
    return found


@dataclass(frozen=True)
class StoredPage:
    """One page of a processed document, enough to reuse it for an identical document."""

    index: int
    markdown: str
    width: int
    height: int
    dpi: int | None
    judgement: Judgement | None


async def stored_document(
    session: AsyncSession,
    digest: str,
    *,
    model: str,
    policy_version: str,
    window_s: float,
    now: datetime | None = None,
) -> tuple[Reuse, list[StoredPage]] | None:
    """A processed document with these bytes (SHA-256) within the window, with its pages.

    ``None`` when there is none, or when its page texts are not kept (ZDR, purged): the
    document then goes to the API again.
    """
    if window_s <= 0:
        return None
    _, by_hash = await stored_verdicts(
        session,
        content_sha256=[digest],
        kind="document",
        model=model,
        policy_version=policy_version,
        window_s=window_s,
        now=now,
    )
    reuse = by_hash.get(digest)
    if reuse is None:
        return None
    pages = (
        await session.scalars(
            select(DocumentPage)
            .where(DocumentPage.item_id == reuse.item_id)
            .order_by(DocumentPage.page_index)
        )
    ).all()
    if any(page.markdown is None for page in pages):
        return None
    verdicts = {
        v.page_index: Judgement(v.categories, v.category_scores, list(v.flagged_categories))
        for v in await session.scalars(
            select(Verdict).where(
                Verdict.item_id == reuse.item_id,
                Verdict.page_index != WHOLE_ITEM,
                Verdict.policy_version == policy_version,
            )
        )
    }
    return reuse, [
        StoredPage(
            p.page_index, p.markdown or "", p.width, p.height, p.dpi, verdicts.get(p.page_index)
        )
        for p in pages
    ]
