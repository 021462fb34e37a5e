"""Contiguous commits: never past an unfinished record of the partition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.kafka.offsets import PartitionOffsets


def test_nothing_to_commit_before_anything_is_read() -> None:
    """A partition with no records has no commit point."""
    assert PartitionOffsets().committable() is None


def test_commit_stops_below_the_lowest_unfinished_record() -> None:
    """Offsets 0..4 in flight; 1, 3 and 4 done → commit up to 0 (the next to read is 0)."""
    offsets = PartitionOffsets()
    for offset in range(5):
        offsets.add(offset)
    for offset in (1, 3, 4):
        offsets.finish(offset)
    assert offsets.committable() == 0
    offsets.finish(0)
    assert offsets.committable() == 2
    offsets.mark_committed(2)
    assert offsets.committable() is None
    offsets.finish(2)
    assert offsets.committable() == 5


def test_gaps_in_offsets_are_fine() -> None:
    """Compacted topics skip offsets; the commit point follows the records that exist."""
    offsets = PartitionOffsets()
    for offset in (10, 13, 20):
        offsets.add(offset)
    offsets.finish(10)
    assert offsets.committable() == 13
    offsets.finish(20)
    offsets.finish(13)
    assert offsets.committable() == 21


@given(st.permutations(list(range(30))), st.integers(min_value=0, max_value=30))
def test_commit_point_is_the_first_unfinished_offset(order: list[int], finished: int) -> None:
    """Whatever the completion order, the commit point is the lowest offset not yet finished."""
    offsets = PartitionOffsets()
    for offset in range(30):
        offsets.add(offset)
    done = set(order[:finished])
    for offset in order[:finished]:
        offsets.finish(offset)
    expected = next((o for o in range(30) if o not in done), 30)
    assert offsets.committable() == expected
    assert offsets.in_flight == 30 - len(done)
