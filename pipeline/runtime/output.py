"""What a worker writes, with confluent-kafka: outputs, changelogs, and barriers for the checkpoint.

Faust's ``await topic.send()`` costs about a tenth of a millisecond per record in Python; librdkafka's
``produce()`` a few microseconds. Every record goes through one idempotent producer (acks=all), so a
partition's records keep their order. The checkpoint (pipeline.runtime.worker) asks for a
``barrier``: it returns once every record written before it was acknowledged by the broker, and
raises when one was refused — a record the broker refuses for longer than the delivery timeout stops
the worker, so its input is read again after the restart instead of being skipped.

Records of the *batched* topics (pipeline.wire.batch) are gathered per partition and written as batch
records: a buffer is written when the event loop next gets a turn (so the records of one input batch,
and of every event handled without yielding, travel together at no added latency), or earlier when it
reaches ``MAX_BATCH_ITEMS`` or ``MAX_BATCH_BYTES``. A record with headers, or too large to share a
batch, is written on its own after the buffer of its partition, so records of one key keep their
order. Tap records (written where a chain passes them in memory) carry ``TAP_HEADER``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaException

from pipeline.runtime.partitioning import partition_of
from pipeline.runtime.producer import DurableProducer, OutgoingRecord
from pipeline.settings import Settings
from pipeline.wire.batch import BATCH_HEADER, BATCH_HEADER_VALUE, MAGIC, MAX_BATCH_BYTES, item_size, pack

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]

MAX_BATCH_ITEMS = 500
_ALONE_BYTES = MAX_BATCH_BYTES // 4  # larger items go on their own
TAP_HEADER = "pipeline-tap"           # written by a chain where it passes the record in memory
TAP_HEADERS = [(TAP_HEADER, b"1")]
_BATCH_HEADERS = [(BATCH_HEADER, BATCH_HEADER_VALUE)]
_BATCH_TAP_HEADERS = _BATCH_HEADERS + TAP_HEADERS


class OutputFailed(RuntimeError):
    """The broker refused a record: the worker must stop (its input is read again after the restart)."""


class Writer:
    def __init__(self, settings: Settings, batched: Mapping[str, int] | None = None,
                 producer: DurableProducer | None = None, on_fatal=None):
        self._producer = producer or DurableProducer(
            settings.kafka, settings.worker.output_delivery_timeout_s,
            **{"linger.ms": settings.worker.producer_linger_ms, "queue.buffering.max.messages": 200_000})
        self._batched = dict(batched or {})  # cluster topic name -> partitions
        self._buffers: dict[tuple[str, int, bool], _Buffer] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_fatal = on_fatal  # coroutine function(reason): stops the worker
        # Outstanding records per epoch; a barrier closes the current epoch and waits for every
        # epoch up to it to drain. Acks are counted on the loop, handed over from the poll thread
        # in batches (one wake-up of the loop per batch of delivery reports, not one per record).
        self._epoch = 0
        self._outstanding: dict[int, int] = collections.defaultdict(int)
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._reports: collections.deque = collections.deque()
        self._drain_scheduled = False
        self.failed: str | None = None
        # highest offset acknowledged per (cluster topic, partition), for the changelogs
        self.offsets: dict[tuple[str, int], int] = {}
        # extra headers for a batch record of (topic, partition): the worker's watermark reports
        self.batch_headers: Callable[[str, int], list[tuple[str, bytes]]] | None = None

    async def warm_up(self, topics: Iterable[str]) -> None:
        """The topics' metadata fetched before the first record to them (DurableProducer.warm_up)."""
        await asyncio.to_thread(self._producer.warm_up, sorted(set(topics)))

    # -- writing ------------------------------------------------------------------------------------
    def write(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None,
              *, tap: bool = False, partition: int | None = None) -> None:
        """Queue one record of a cluster topic (no waiting: a full queue is waited out by ``barrier``)."""
        if self.failed is not None:
            raise OutputFailed(self.failed)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()  # writes come from the worker's loop only
        partitions = self._batched.get(topic)
        if partitions is not None and value is not None:
            where = partition_of(key, partitions) if partition is None else partition
            if not headers and len(value) < _ALONE_BYTES and partition is None:
                self._buffer(topic, where, key, value, tap)
                return
            self._write_buffer((topic, where, tap))  # what is buffered for it goes first
            self._write_buffer((topic, where, not tap))
            partition = where
        if tap:
            headers = [*(headers or ()), *TAP_HEADERS]
        self._produce(topic, key, value, list(headers) if headers else None, partition)

    def _produce(self, topic, key, value, headers, partition) -> None:
        epoch = self._epoch
        self._outstanding[epoch] += 1
        on_delivery = _Report(self, epoch)
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, key, value, headers, on_delivery)
                else:
                    self._producer.produce_keyed_to(topic, partition, key, value, headers, on_delivery)
                return
            except BufferError:
                self._producer.poll(0.01)  # the broker is behind: let the queue drain
            except KafkaException as exc:
                self._outstanding[epoch] -= 1
                self._fail(f"produce to {topic} failed: {exc.args[0].str()}")
                raise OutputFailed(self.failed) from None

    def _buffer(self, topic: str, partition: int, key: bytes | None, value: bytes, tap: bool) -> None:
        slot = (topic, partition, tap)
        size = item_size(key, value)
        buffer = self._buffers.get(slot)
        if buffer is not None and (buffer.size + size > MAX_BATCH_BYTES or len(buffer.items) >= MAX_BATCH_ITEMS):
            self._write_buffer(slot)
            buffer = None
        if buffer is None:
            buffer = self._buffers[slot] = _Buffer()
        buffer.items.append((key, value))
        buffer.size += size
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:  # event loop, once the worker yields
        self._flush_handle = None
        for slot in list(self._buffers):
            self._write_buffer(slot)

    def _write_buffer(self, slot: tuple[str, int, bool]) -> None:
        buffer = self._buffers.pop(slot, None)
        if buffer is None:
            return
        topic, partition, tap = slot
        headers = _BATCH_TAP_HEADERS if tap else _BATCH_HEADERS
        if self.batch_headers is not None:
            extra = self.batch_headers(topic, partition)
            if extra:
                headers = [*headers, *extra]
        self._produce(topic, None, pack(buffer.items), headers, partition)

    async def barrier(self) -> None:
        """Return once every record written so far is acknowledged (OutputFailed if one was refused)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._flush()
        epoch = self._epoch
        self._epoch += 1
        self._count_reports()
        if not self._pending_upto(epoch):
            if self.failed is not None:
                raise OutputFailed(self.failed)
            return
        future = self._loop.create_future()
        self._waiters.append((epoch, future))
        await future

    def _pending_upto(self, epoch: int) -> bool:
        return any(count for e, count in self._outstanding.items() if e <= epoch)

    async def send_and_wait(self, records: Sequence[OutgoingRecord]) -> None:
        """Unbatched records written and acknowledged now (the sink's retry and dead-letter writes,
        which the ledger protocol orders): ProduceError if the broker refused one."""
        await self._producer.send_all(records)

    # -- acknowledgements -----------------------------------------------------------------------------
    def _reported(self, epoch: int, error, message) -> None:  # poll thread
        self._reports.append((epoch, error, message))
        if not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            self._loop.call_soon_threadsafe(self._count_reports)

    def _count_reports(self) -> None:  # event loop
        self._drain_scheduled = False
        reports = self._reports
        while reports:
            epoch, error, message = reports.popleft()
            self._outstanding[epoch] -= 1
            if error is not None:
                self._fail(f"the broker did not accept a record: {error.str()}")
            elif message is not None:
                place = (message.topic(), message.partition())
                offset = message.offset()
                if offset is not None and offset > self.offsets.get(place, -1):
                    self.offsets[place] = offset
        for epoch in [e for e, count in self._outstanding.items() if count == 0]:
            del self._outstanding[epoch]
        if self._waiters:
            still = []
            for epoch, future in self._waiters:
                if future.done():
                    continue
                if self.failed is not None:
                    future.set_exception(OutputFailed(self.failed))
                elif self._pending_upto(epoch):
                    still.append((epoch, future))
                else:
                    future.set_result(None)
            self._waiters = still

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            log.error("output: %s; stopping the worker (unacknowledged input is read again)", reason)
            if self._loop is not None and self._on_fatal is not None:
                self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._on_fatal(reason)))

    def close(self, timeout: float = 10.0) -> int:
        self._flush()
        return self._producer.close(timeout)


class _Report:
    """A record's delivery callback (on the poll thread): which epoch it belongs to."""

    __slots__ = ("_writer", "_epoch")

    def __init__(self, writer: Writer, epoch: int):
        self._writer, self._epoch = writer, epoch

    def __call__(self, error, message) -> None:
        self._writer._reported(self._epoch, error, message)


class _Buffer:
    """Records bound for one partition of a batched topic."""

    __slots__ = ("items", "size")

    def __init__(self):
        self.items: list[tuple[bytes | None, bytes]] = []
        self.size = len(MAGIC)


def is_tap(headers: Any) -> bool:
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(name == TAP_HEADER for name, _ in items)
