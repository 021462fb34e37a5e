"""The replica share scheme: each replica takes a part of the organisation's Mistral quota.

Mistral's limits are per organisation, so N replicas of modocr must split them. Each replica
holds some of the input partitions of the consumer group; its share of the quota is

    share = headroom * (partitions it holds) / (partitions of its topics)

summed over the consumers of the process (moderation and OCR share one client). Kafka's eager
rebalance revokes every partition before assigning new ones, so the shares of the replicas
never add up to more than ``headroom`` (0.97 by default: the margin for the skew between our
clock and the server's windows). A replica holding nothing keeps ``MIN_SHARE`` so that the
batches it finishes on revoke still get through. See docs/throughput.md.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipeline.mistral.ratelimit import RateLimiter
    from pipeline.settings import QuotaSettings

logger = logging.getLogger(__name__)

MIN_SHARE = 0.01
"""The share of a replica that holds no partition (a share must be > 0)."""


def share_of(assigned: int, total: int, headroom: float = 1.0) -> float:
    """``headroom * assigned / total``, at least ``MIN_SHARE`` and at most ``headroom``."""
    if total <= 0 or assigned <= 0:
        return MIN_SHARE
    return max(min(headroom * assigned / total, headroom), MIN_SHARE)


class ReplicaShare:
    """Keeps a limiter's ``share`` at this replica's part of the quota.

    One per limiter (per process); each consumer reports its assignment under its own name.
    """

    def __init__(self, limiter: RateLimiter, headroom: float = 1.0) -> None:
        self._limiter = limiter
        self._headroom = headroom
        self._held: dict[str, tuple[int, int]] = {}

    @property
    def held(self) -> dict[str, tuple[int, int]]:
        """Per consumer: (partitions held, partitions of its topics)."""
        return dict(self._held)

    def observer(self, consumer: str) -> Callable[[int, int], None]:
        """The ``on_assignment(assigned, total)`` callback for one consumer's runner."""

        def observe(assigned: int, total: int) -> None:
            self.update(consumer, assigned, total)

        return observe

    def update(self, consumer: str, assigned: int, total: int) -> float:
        """Record one consumer's assignment; set and return the limiter's new share."""
        self._held[consumer] = (assigned, total)
        share = share_of(
            sum(a for a, _ in self._held.values()),
            sum(t for _, t in self._held.values()),
            self._headroom,
        )
        if share != self._limiter.share:
            logger.info(
                "quota share %.3f (partitions held/total: %s)",
                share,
                {name: f"{a}/{t}" for name, (a, t) in self._held.items()},
            )
            self._limiter.share = share
        return share


_SHARES: weakref.WeakKeyDictionary[RateLimiter, ReplicaShare] = weakref.WeakKeyDictionary()


def replica_share(limiter: RateLimiter, quota: QuotaSettings) -> ReplicaShare | None:
    """The ``ReplicaShare`` of a process's limiter (one per limiter); ``None`` if disabled."""
    if not quota.share_by_partitions:
        return None
    found = _SHARES.get(limiter)
    if found is None:
        found = _SHARES[limiter] = ReplicaShare(limiter, quota.headroom)
    return found
