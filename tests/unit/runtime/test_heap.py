"""Start-up objects are frozen out of the collector's way while workers run, and only then."""

from __future__ import annotations

import gc
import weakref

from pipeline.heap import startup_frozen


class Node:
    """A weak-referenceable object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_objects_alive_at_start_are_frozen_and_thawed_after() -> None:
    assert gc.get_freeze_count() == 0
    with startup_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_garbage_is_collected_before_the_freeze_not_frozen() -> None:
    """A cycle that is already garbage must not be kept forever in the permanent generation."""
    gc.disable()  # no automatic collection between here and the block
    try:
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        assert gone() is not None
        with startup_frozen():
            assert gone() is None
    finally:
        gc.enable()


def test_nested_blocks_thaw_only_when_the_outermost_ends() -> None:
    with startup_frozen():
        frozen = gc.get_freeze_count()
        with startup_frozen():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0


def test_objects_created_inside_are_collected_as_usual() -> None:
    with startup_frozen():
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        gc.collect()
        assert gone() is None
