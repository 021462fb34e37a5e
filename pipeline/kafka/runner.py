"""The consume loop: decode → handle → ack / retry / dead-letter, with contiguous commits.

Records of a partition may be handled concurrently (several batches in flight); offsets are
committed only up to the lowest unfinished record of each partition. A transient failure
pauses the partitions of the batch and retries it after a backoff (or the ``Retry-After`` the
API asked for), never dropping it; a permanent one dead-letters the record and moves on.
Polling never stops while handlers run, so heartbeats and rebalances go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from pipeline.errors import InvalidMessageError, PermanentError, PipelineError, TransientError
from pipeline.kafka.client import Listener
from pipeline.kafka.offsets import PartitionOffsets
from pipeline.kafka.records import Decoded, Delivery
from pipeline.lifecycle import wait_stopped

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiokafka import AIOKafkaConsumer

logger = logging.getLogger(__name__)

T = TypeVar("T")
TP = tuple[str, int]

Outcome = Exception | None
"""Per message: ``None`` (done), or the permanent error (or a bug's exception) that
dead-letters it."""
Handler = Callable[[list[Decoded[T]]], Awaitable[list[Outcome]]]
DeadLetterSink = Callable[[Delivery, BaseException, int], Awaitable[None]]

POLL_TIMEOUT_MS = 100
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class ConsumeOptions:
    """How many records go to one handler call and how many calls run at once.

    ``linger_s``: while another batch is in flight, a batch that is not full waits up to this
    long for more records (the oldest record's wait). With nothing in flight a batch leaves at
    once, so a quiet pipeline adds no delay; under load, batches fill up instead of leaving as
    many small ones, each paying the per-request and per-transaction costs.
    """

    batch_max: int = 1
    concurrency: int = 1
    linger_s: float = 0.0
    commit_interval_s: float = 0.0
    """Offsets are committed at most this often while consuming (and always on revoke and at
    the end): each commit is a broker request, and a crash redelivers at most this much more
    (handling is idempotent). Burst mode commits after every poll, so that it can tell when
    the input is drained."""
    retry_pause_s: float = 5.0
    shutdown_grace_s: float = 15.0
    burst: bool = False


@dataclass
class ConsumeStats:
    """Counts of one run, for the demo's progress and tests."""

    consumed: int = 0
    handled: int = 0
    dead_lettered: int = 0
    retries: int = 0
    commits: int = 0
    batches: int = 0


@dataclass
class _State(Generic[T]):
    offsets: dict[TP, PartitionOffsets] = field(default_factory=dict)
    queue: deque[tuple[float, Delivery]] = field(default_factory=deque)
    """Records waiting for a batch, with the monotonic time they were fetched."""
    backoff: dict[TP, int] = field(default_factory=dict)
    in_flight: int = 0


class Runner(Generic[T]):
    """Consumes one subscription with a handler; see the module docstring for the semantics."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        decode: Callable[[bytes | None], T],
        handle: Handler[T],
        dead_letter: DeadLetterSink,
        options: ConsumeOptions,
        *,
        name: str = "worker",
        on_assignment: Callable[[int, int], None] | None = None,
    ) -> None:
        self._consumer = consumer
        # Told (partitions held, partitions of the topics) after each rebalance step.
        self._on_assignment = on_assignment
        self._topics = list(topics)
        self._decode = decode
        self._handle = handle
        self._dead_letter = dead_letter
        self._options = options
        self._name = name
        self._state: _State[T] = _State()
        self.stats = ConsumeStats()
        self._assigned = asyncio.Event()
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self._linger_timer: asyncio.TimerHandle | None = None
        self._committed_at = 0.0

    async def run(self, stop: asyncio.Event) -> ConsumeStats:
        """Consume until ``stop`` is set (or, in burst mode, the topics are drained)."""
        self._stop = stop
        self._committed_at = time.monotonic()  # the first commit, too, waits an interval
        listener = Listener(self._on_revoked, self._on_assigned)
        self._consumer.subscribe(topics=self._topics, listener=listener)
        try:
            async with asyncio.TaskGroup() as tasks:
                await self._loop(stop, tasks)
                await self._finish_in_flight()
        except* _GraceExpiredError:
            logger.warning("%s: unfinished work cancelled; it will be redelivered", self._name)
        finally:
            self._cancel_linger()
            await self._commit()
        return self.stats

    async def _loop(self, stop: asyncio.Event, tasks: asyncio.TaskGroup) -> None:
        state = self._state
        limit = self._options.batch_max * self._options.concurrency * 2
        while not stop.is_set():
            self._apply_pauses(buffered=len(state.queue) + state.in_flight >= limit)
            fetched = await self._consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS, max_records=self._options.batch_max * 4
            )
            now = time.monotonic()
            for tp, records in fetched.items():
                key = (tp.topic, tp.partition)
                offsets = state.offsets.setdefault(key, PartitionOffsets())
                for record in records:
                    offsets.add(record.offset)
                    state.queue.append((now, _delivery(record)))
                    self.stats.consumed += 1
            self._dispatch(tasks)
            if self._options.burst or now - self._committed_at >= self._options.commit_interval_s:
                await self._commit()
            if self._options.burst and await self._is_drained(fetched_any=bool(fetched)):
                logger.info("%s: burst done, input drained", self._name)
                return

    def _dispatch(self, tasks: asyncio.TaskGroup) -> None:
        state = self._state
        options = self._options
        while state.queue and state.in_flight < options.concurrency:
            left_s = state.queue[0][0] + options.linger_s - time.monotonic()
            if len(state.queue) < options.batch_max and state.in_flight > 0 and left_s > 0:
                # Not full, others in flight: wait for more records, until the linger ends.
                if self._linger_timer is None:
                    self._linger_timer = asyncio.get_running_loop().call_later(
                        left_s, self._linger_over, tasks
                    )
                return
            batch = [
                state.queue.popleft()[1] for _ in range(min(options.batch_max, len(state.queue)))
            ]
            state.in_flight += 1
            self.stats.batches += 1
            tasks.create_task(self._process(batch, tasks))

    def _linger_over(self, tasks: asyncio.TaskGroup) -> None:
        self._linger_timer = None
        if not self._stop.is_set():
            self._dispatch(tasks)

    def _cancel_linger(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None

    async def _process(self, batch: list[Delivery], tasks: asyncio.TaskGroup) -> None:
        try:
            decoded: list[Decoded[T]] = []
            for delivery in batch:
                try:
                    decoded.append(Decoded(delivery, self._decode(delivery.value)))
                except InvalidMessageError as exc:
                    await self._fail(delivery, exc, attempts=1)
            if decoded:
                await self._handle_with_retries(decoded)
        finally:
            self._state.in_flight -= 1
            self._progress.set()
            self._dispatch(tasks)

    async def _handle_with_retries(self, decoded: list[Decoded[T]]) -> None:
        attempt = 1
        partitions = {(d.delivery.topic, d.delivery.partition) for d in decoded}
        while True:
            try:
                outcomes = await self._handle(decoded)
            except TransientError as exc:
                delay = _backoff(exc, attempt, self._options.retry_pause_s)
                self.stats.retries += 1
                logger.warning(
                    "%s: transient failure (%s) on %d message(s); partitions %s paused, "
                    "retry %d in %.1fs",
                    self._name,
                    type(exc).__name__,
                    len(decoded),
                    sorted(partitions),
                    attempt,
                    delay,
                )
                await self._pause_for(partitions, delay)
                attempt += 1
                if self._stop.is_set() or not self._owns(partitions):
                    return  # stopping, or revoked: left uncommitted, redelivered later
                continue
            except Exception as exc:  # a bug in a handler must not lose the batch
                if len(decoded) == 1:
                    if not isinstance(exc, PermanentError):
                        logger.exception(
                            "%s: handler failed on %s", self._name, decoded[0].delivery.position
                        )
                    outcomes = [exc]
                else:
                    # Find the poison message: handle one by one.
                    for one in decoded:
                        await self._handle_with_retries([one])
                    return
            break
        for item, outcome in zip(decoded, outcomes, strict=True):
            if outcome is None:
                self._finish(item.delivery)
                self.stats.handled += 1
            else:
                await self._fail(item.delivery, outcome, attempts=attempt)

    async def _fail(self, delivery: Delivery, error: BaseException, attempts: int) -> None:
        """Dead-letter one record; a sink failure propagates and stops the worker uncommitted."""
        logger.warning(
            "%s: dead-lettering %s: %s: %s",
            self._name,
            delivery.position,
            type(error).__name__,
            # modocr's errors carry ids only; a bug's message may quote content (logged above).
            error if isinstance(error, PipelineError) else "unexpected error",
        )
        attempt = 1
        while True:
            try:
                await self._dead_letter(delivery, error, attempts)
                break
            except TransientError as exc:
                if attempt >= 5:  # noqa: PLR2004 - the DLQ path gets five tries, then we exit
                    raise
                delay = _backoff(exc, attempt, self._options.retry_pause_s)
                logger.warning(
                    "%s: dead-letter sink unavailable, retry in %.1fs", self._name, delay
                )
                await asyncio.sleep(delay)
                attempt += 1
        self.stats.dead_lettered += 1
        self._finish(delivery)

    def _finish(self, delivery: Delivery) -> None:
        offsets = self._state.offsets.get((delivery.topic, delivery.partition))
        if offsets is not None:
            offsets.finish(delivery.offset)

    async def _pause_for(self, partitions: set[TP], delay: float) -> None:
        state = self._state
        for tp in partitions:
            state.backoff[tp] = state.backoff.get(tp, 0) + 1
        try:
            await wait_stopped(self._stop, delay)
        finally:
            for tp in partitions:
                state.backoff[tp] -= 1
                if state.backoff[tp] <= 0:
                    del state.backoff[tp]

    def _apply_pauses(self, *, buffered: bool) -> None:
        assignment = self._consumer.assignment()
        pause = {
            tp for tp in assignment if buffered or (tp.topic, tp.partition) in self._state.backoff
        }
        resume = set(assignment) - pause
        if pause:
            self._consumer.pause(*pause)
        paused = self._consumer.paused()
        if resume & paused:
            self._consumer.resume(*(resume & paused))

    def _owns(self, partitions: set[TP]) -> bool:
        return all(tp in self._state.offsets for tp in partitions)

    async def _commit(self, only: set[TP] | None = None) -> None:
        """Commit, per partition, up to the lowest unfinished record."""
        offsets: dict[Any, int] = {}
        for key, tracker in self._state.offsets.items():
            if only is not None and key not in only:
                continue
            next_offset = tracker.committable()
            if next_offset is not None:
                offsets[TopicPartition(*key)] = next_offset
        if not offsets:
            return
        self._committed_at = time.monotonic()
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions; the new owner redelivers from the last commit.
            logger.warning("%s: commit failed (%s); records will be redelivered", self._name, exc)
            return
        for tp, offset in offsets.items():
            if (owned := self._state.offsets.get((tp.topic, tp.partition))) is not None:
                owned.mark_committed(offset)
        self.stats.commits += 1

    async def _finish_in_flight(self) -> None:
        """On stop: wait for running handlers within the grace period, then give up on them."""
        self._state.queue.clear()
        self._cancel_linger()
        await self._wait_until(lambda: not self._state.in_flight, self._options.shutdown_grace_s)
        await self._commit()
        if self._state.in_flight:
            logger.warning(
                "%s: %d batch(es) unfinished after %.0fs grace; they will be redelivered",
                self._name,
                self._state.in_flight,
                self._options.shutdown_grace_s,
            )
            raise _GraceExpiredError

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``done()`` holds, re-checking whenever a batch finishes; bounded."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not done():
                    self._progress.clear()
                    await self._progress.wait()

    async def _on_revoked(self, revoked: set[TP]) -> None:
        """Finish in-flight work of the revoked partitions (bounded), commit, forget them."""
        state = self._state
        state.queue = deque(
            (at, d) for at, d in state.queue if (d.topic, d.partition) not in revoked
        )
        await self._wait_until(
            lambda: not any(state.offsets[tp].in_flight for tp in revoked if tp in state.offsets),
            min(self._options.shutdown_grace_s, 10.0),
        )
        await self._commit(only=revoked)
        for tp in revoked:
            state.offsets.pop(tp, None)
        logger.info("%s: partitions revoked: %s", self._name, sorted(revoked))
        self._report_assignment()

    async def _on_assigned(self, assigned: set[TP]) -> None:
        for tp in assigned:
            self._state.offsets.setdefault(tp, PartitionOffsets())
        logger.info("%s: partitions assigned: %s", self._name, sorted(assigned))
        if assigned:
            self._assigned.set()
        self._report_assignment()

    def _report_assignment(self) -> None:
        if self._on_assignment is None:
            return
        total = sum(len(self._consumer.partitions_for_topic(t) or ()) for t in self._topics)
        self._on_assignment(len(self._state.offsets), max(total, len(self._state.offsets)))

    async def _is_drained(self, *, fetched_any: bool) -> bool:
        """Burst mode: nothing buffered or running and every partition read to its high-water."""
        state = self._state
        if fetched_any or state.queue or state.in_flight or not self._assigned.is_set():
            return False
        assignment = self._consumer.assignment()
        if not assignment:
            return False
        for tp in assignment:
            highwater = self._consumer.highwater(tp)
            if highwater is None or await self._consumer.position(tp) < highwater:
                return False
            tracker = state.offsets.get((tp.topic, tp.partition))
            if tracker is not None and (tracker.in_flight or tracker.committable() is not None):
                return False
        return True


class _GraceExpiredError(Exception):
    """Raised inside the task group to cancel handlers still running after the grace period."""


def _delivery(record: Any) -> Delivery:  # noqa: ANN401 - aiokafka's ConsumerRecord is untyped
    return Delivery(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        timestamp_ms=record.timestamp,
        headers=tuple(record.headers or ()),
    )


def _backoff(exc: TransientError, attempt: int, base_s: float) -> float:
    retry_after: object = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        return min(float(retry_after), MAX_BACKOFF_S)
    return min(base_s * 2.0 ** (attempt - 1), MAX_BACKOFF_S)
