"""Contiguous commits per partition, the parallel-consumer way.

With several records of a partition in flight, only the offset below the lowest unfinished
record may be committed; a crash then redelivers the unfinished ones and nothing is lost.
"""

from __future__ import annotations

import heapq


class PartitionOffsets:
    """Offsets of one partition: which are in flight, which is safe to commit next."""

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._in_flight: set[int] = set()
        self._highest_seen: int | None = None
        self._committed: int | None = None

    def add(self, offset: int) -> None:
        """A record was taken from the broker and is now in flight."""
        self._in_flight.add(offset)
        heapq.heappush(self._heap, offset)
        if self._highest_seen is None or offset > self._highest_seen:
            self._highest_seen = offset

    def finish(self, offset: int) -> None:
        """The record's outcome is durable (result rows or a DLQ record)."""
        self._in_flight.discard(offset)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def committable(self) -> int | None:
        """The next offset to commit (Kafka's "next record to read"), or None if nothing new."""
        while self._heap and self._heap[0] not in self._in_flight:
            heapq.heappop(self._heap)
        if self._heap:
            candidate: int | None = self._heap[0]
            if self._committed is not None and candidate is not None:
                candidate = max(candidate, self._committed)
        elif self._highest_seen is not None:
            candidate = self._highest_seen + 1
        else:
            candidate = None
        if candidate is None or candidate == self._committed:
            return None
        return candidate

    def mark_committed(self, offset: int) -> None:
        self._committed = offset

    @property
    def committed(self) -> int | None:
        return self._committed
