"""A stage's output records, written with confluent-kafka and acknowledged per input event.

Faust's ``await topic.send()`` costs about a tenth of a millisecond per record in Python (aiokafka's
accumulator, futures, a task per batch); at one or two sends per record it was most of a stage's CPU.
librdkafka's ``produce()`` is a few microseconds. At-least-once stays: the agent reads with
``stream.noack()`` and an input event is acknowledged only when the broker has acknowledged every
record it produced (acks=all, idempotent); Faust commits an offset only once every event before it is
acknowledged. A record the broker refuses for longer than the delivery timeout stops the worker, so the
event is read again after the restart instead of being skipped.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException

from pipeline.producer import DurableProducer
from pipeline.settings import Settings

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]] | None]  # topic, key, value, headers


class StageOutput:
    def __init__(self, settings: Settings, on_fatal):
        self._producer = DurableProducer(
            settings.kafka, settings.worker.output_delivery_timeout_s,
            **{"linger.ms": settings.worker.producer_linger_ms, "queue.buffering.max.messages": 200_000})
        self._on_fatal = on_fatal  # coroutine function(reason): stops the worker
        self._loop: asyncio.AbstractEventLoop | None = None
        # Acknowledged events, handed from the poll thread to the loop in batches: one wake-up of the
        # loop per batch of delivery reports, not one per event (that was a fifth of a stage's CPU).
        self._acked: collections.deque = collections.deque()
        self._drain_scheduled = False
        self.failed: str | None = None

    async def emit(self, event: Any, records: Sequence[Record]) -> None:
        """Write ``records`` (cluster topic names); ack ``event`` once all are on the broker."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self.failed is not None:
            raise RuntimeError(f"stage output failed: {self.failed}")
        if not records:
            event.ack()
            return
        pending = _Pending(self, event, len(records))
        for topic, key, value, headers in records:
            while True:
                try:
                    self._producer.produce(topic, key, value, list(headers) if headers else None,
                                           pending.on_delivery)
                    break
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
        return self._producer.close(timeout)


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
