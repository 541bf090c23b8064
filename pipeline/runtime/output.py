"""A stage's output records, written with confluent-kafka and acknowledged per input event.

Faust's ``await topic.send()`` costs about a tenth of a millisecond per record in Python (aiokafka's
accumulator, futures, a task per batch); at one or two sends per record it was most of a stage's CPU.
librdkafka's ``produce()`` is a few microseconds. At-least-once stays: the agent reads with
``stream.noack()`` and an input event is acknowledged only when the broker has acknowledged every
record it produced (acks=all, idempotent); Faust commits an offset only once every event before it is
acknowledged. A record the broker refuses for longer than the delivery timeout stops the worker, so the
event is read again after the restart instead of being skipped.

Records of the *batched* topics (the stream topics between stages, pipeline.wire.batch) are gathered
per partition and written as batch records: a buffer is written when the event loop next gets a turn
(so the records of one input batch, and of every event Faust hands over without yielding, travel
together, at no added latency), or earlier when it reaches ``MAX_BATCH_ITEMS`` or ``MAX_BATCH_BYTES``.
A record with headers, or too large to share a batch, is written on its own after the buffer of its
partition, so records of one key keep their order.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaException

from pipeline.runtime.partitioning import partition_of
from pipeline.runtime.producer import DurableProducer, OutgoingRecord
from pipeline.settings import Settings
from pipeline.wire.batch import BATCH_HEADERS, MAGIC, MAX_BATCH_BYTES, item_size, pack

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]] | None]  # topic, key, value, headers

MAX_BATCH_ITEMS = 500
_ALONE_BYTES = MAX_BATCH_BYTES // 4  # larger items go on their own


class StageOutput:
    def __init__(self, settings: Settings, on_fatal, batched: Mapping[str, int] | None = None,
                 producer: DurableProducer | None = None):
        self._producer = producer or DurableProducer(
            settings.kafka, settings.worker.output_delivery_timeout_s,
            **{"linger.ms": settings.worker.producer_linger_ms, "queue.buffering.max.messages": 200_000})
        self._on_fatal = on_fatal  # coroutine function(reason): stops the worker
        self._batched = dict(batched or {})  # cluster topic name -> partitions
        self._buffers: dict[tuple[str, int], _Buffer] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Acknowledged events, handed from the poll thread to the loop in batches: one wake-up of the
        # loop per batch of delivery reports, not one per event (that was a fifth of a stage's CPU).
        self._acked: collections.deque = collections.deque()
        self._drain_scheduled = False
        self.failed: str | None = None

    async def emit(self, event: Any, records: Sequence[Record]) -> None:
        """Write ``records`` (cluster topic names); ``event.ack()`` once all are on the broker."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self.failed is not None:
            raise RuntimeError(f"stage output failed: {self.failed}")
        if not records:
            event.ack()
            return
        pending = _Pending(self, event, len(records))  # counted before any delivery can report
        for topic, key, value, headers in records:
            partitions = self._batched.get(topic)
            if partitions is not None and value is not None:
                partition = partition_of(key, partitions)
                if not headers and len(value) < _ALONE_BYTES:
                    self._buffer(topic, partition, key, value, pending)
                    continue
                while not self._write_buffer((topic, partition)):  # what is buffered for it goes first
                    await asyncio.sleep(0.01)
            await self._produce(topic, key, value, list(headers) if headers else None, pending.on_delivery)
        if len(self._buffers) and self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)
        if sum(len(b.items) for b in self._buffers.values()) >= 4 * MAX_BATCH_ITEMS:
            await self._wait_for_queue_room()

    async def send_and_wait(self, records: Sequence[Record]) -> None:
        """Write unbatched records and return once the broker acknowledged every one (ProduceError if not)."""
        await self._producer.send_all(OutgoingRecord(topic, key, value, tuple(headers or ()))
                                      for topic, key, value, headers in records)

    def write(self, records: Sequence[Record]) -> None:
        """Queue unbatched records without waiting for their acknowledgement (table changelogs of timers).

        Synchronous: the caller has already changed the table in memory, so a full queue is waited out
        here (the poll thread drains it) rather than leaving the changelog behind the table."""
        for topic, key, value, headers in records:
            while True:
                try:
                    self._producer.produce(topic, key, value, list(headers) if headers else None,
                                           self._report_failure)
                    break
                except BufferError:
                    time.sleep(0.01)

    def _report_failure(self, error, _message) -> None:  # poll thread
        if error is not None:
            self._fail(f"the broker did not accept a record: {error.str()}")

    def _buffer(self, topic: str, partition: int, key: bytes | None, value: bytes, pending: _Pending) -> None:
        slot = (topic, partition)
        size = item_size(key, value)
        buffer = self._buffers.get(slot)
        if buffer is not None and (buffer.size + size > MAX_BATCH_BYTES or len(buffer.items) >= MAX_BATCH_ITEMS):
            self._write_buffer(slot)
            buffer = None
        if buffer is None:
            buffer = self._buffers[slot] = _Buffer()
        buffer.items.append((key, value))
        buffer.pending.append(pending)
        buffer.size += size

    def _flush(self) -> None:  # event loop, once the stage yields
        self._flush_handle = None
        for slot in list(self._buffers):
            if not self._write_buffer(slot):
                self._flush_handle = self._loop.call_later(0.01, self._flush)  # queue full: try again soon
                return

    def _write_buffer(self, slot: tuple[str, int]) -> bool:
        buffer = self._buffers.get(slot)
        if buffer is None:
            return True
        topic, partition = slot
        try:
            self._producer.produce_to(topic, partition, pack(buffer.items), BATCH_HEADERS, buffer.on_delivery)
        except BufferError:
            return False  # stays buffered; _flush retries
        except KafkaException as exc:
            self._fail(f"produce to {topic} failed: {exc.args[0].str()}")
            raise
        del self._buffers[slot]
        return True

    async def _wait_for_queue_room(self) -> None:
        while self._buffers:
            self._flush()
            if self._buffers:
                await asyncio.sleep(0.01)  # the broker is behind: wait instead of buffering more

    async def _produce(self, topic, key, value, headers, on_delivery) -> None:
        while True:
            try:
                self._producer.produce(topic, key, value, headers, on_delivery)
                return
            except BufferError:
                await asyncio.sleep(0.01)  # the broker is behind: wait instead of buffering more
            except KafkaException as exc:
                self._fail(f"produce to {topic} failed: {exc.args[0].str()}")
                raise

    def _acknowledged(self, event: Any) -> None:  # poll thread
        self._acked.append(event)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:  # event loop
        self._drain_scheduled = False
        acked = self._acked
        while acked:
            acked.popleft().ack()

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            log.error("stage output: %s; stopping the worker (unacknowledged input is read again)", reason)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._on_fatal(reason)))

    def close(self, timeout: float = 10.0) -> int:
        if self._buffers:
            self._flush()
        return self._producer.close(timeout)


class _NoEvent:
    """The input event of records that answer no input (timers): nothing to acknowledge."""

    def ack(self) -> None:
        pass


NO_EVENT = _NoEvent()


class AckAfter:
    """Acknowledges ``event`` once each of its ``parts`` was acknowledged: the items of one batch
    record that leave at different times (classify's concurrent work)."""

    __slots__ = ("_event", "_left")

    def __init__(self, event: Any, parts: int):
        self._event, self._left = event, parts
        if parts == 0:
            event.ack()

    def ack(self) -> None:
        self._left -= 1
        if self._left == 0:
            self._event.ack()


class _Pending:
    """The delivery reports of one input event's records (on the poll thread)."""

    __slots__ = ("_output", "_event", "_left")

    def __init__(self, output: StageOutput, event: Any, count: int):
        self._output, self._event, self._left = output, event, count

    def on_delivery(self, error, _message) -> None:
        if error is not None:
            self._output._fail(f"the broker did not accept a record: {error.str()}")
            return
        self._left -= 1  # one poll thread: no lock needed
        if self._left == 0:
            self._output._acknowledged(self._event)


class _Buffer:
    """Records bound for one partition of a batched topic, and whose events wait for them."""

    __slots__ = ("items", "pending", "size")

    def __init__(self):
        self.items: list[tuple[bytes | None, bytes]] = []
        self.pending: list[_Pending] = []
        self.size = len(MAGIC)

    def on_delivery(self, error, message) -> None:  # poll thread
        for pending in self.pending:
            pending.on_delivery(error, message)
