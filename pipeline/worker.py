"""What a worker is: a spec (topic, group, message type, options) plus a handler.

Workers (``workers/``) hold no infrastructure code; ``pipeline/runtime.py`` opens the
resources, builds a ``Context`` and runs each spec.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pydantic import TypeAdapter

    from pipeline.db.engine import Database
    from pipeline.kafka.client import Publisher
    from pipeline.kafka.records import Decoded
    from pipeline.kafka.runner import ConsumeOptions, Outcome
    from pipeline.mistral.client import MistralClient
    from pipeline.policy import Policy
    from pipeline.retention import Retention
    from pipeline.settings import Settings, TopicSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """The resources a handler may use; one per process, shared by all workers."""

    settings: Settings
    database: Database
    mistral: MistralClient
    publisher: Publisher
    retention: Retention
    policy: Policy
    outbox_staged: asyncio.Event = field(default_factory=asyncio.Event)
    """Set after a commit that staged outbox events: wakes this process's relay at once
    (the relay still polls for events other processes stage)."""


@dataclass(frozen=True)
class ConsumerSpec(Generic[T]):
    """A worker that consumes one input topic with a batch handler."""

    name: str
    item_kind: Literal["post", "document"]
    topic: Callable[[TopicSettings], str]
    adapter: TypeAdapter[T]
    handle: Callable[[Context, list[Decoded[T]]], Awaitable[list[Outcome]]]
    options: Callable[[Settings], ConsumeOptions]

    @property
    def group_id(self) -> str:
        return f"modocr.{self.name}"


@dataclass(frozen=True)
class LoopSpec:
    """A worker that is a loop of its own (the outbox relay)."""

    name: str
    run: Callable[[Context, asyncio.Event, asyncio.Event | None], Awaitable[int]]
    """``run(ctx, stop, inputs_drained)``: with ``inputs_drained`` (burst mode) it returns once
    that is set and it has nothing left to do; returns how many records it handled."""


WorkerSpec = ConsumerSpec[Any] | LoopSpec
