"""A durable Kafka producer for asyncio code: every write is acknowledged by all in-sync replicas.

The bridge answers 2xx only after ``send_all`` returned, so an accepted alert is on the broker.
confluent-kafka delivers acknowledgements on a background poll thread; they are counted down per
call, and the last one of a call settles that call's single future on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from pipeline.runtime.admin import RDKAFKA_LOGGER
from pipeline.settings import KafkaSettings
from pipeline.topology.model import LARGE_RECORD_SIZE
from pipeline.wire.batch import BATCH_HEADERS, pack_by_partition

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()


class ProduceError(RuntimeError):
    """Some record of a batch was not acknowledged; nothing may be reported as accepted."""


def durable_config(kafka: KafkaSettings, delivery_timeout_s: float, **overrides: Any) -> dict[str, Any]:
    config = kafka.client_config()
    config.update({
        "acks": "all",
        # Idempotence: librdkafka's internal retries never duplicate or reorder a partition's records.
        "enable.idempotence": True,
        "linger.ms": 2,
        "compression.type": "lz4",
        # Notifications carry their whole group (`dlq replay` re-sends them); topics allow 16 MiB.
        "message.max.bytes": LARGE_RECORD_SIZE,
        # Java's partitioner, as Faust (aiokafka) and Java clients use: one key, one partition,
        # whoever writes it. Stage tables rely on that (pipeline.runtime.app.StageApp.table).
        "partitioner": "murmur2_random",
        # A record not acknowledged in time fails instead of waiting forever, so callers can answer
        # 503 within a bound. It may still have reached the broker (at-least-once: a retried request
        # can duplicate a raw alert; dedup downstream makes that harmless).
        "delivery.timeout.ms": int(delivery_timeout_s * 1000),
        "logger": RDKAFKA_LOGGER,
    })
    config.update(overrides)
    return config


class DurableProducer:
    def __init__(self, kafka: KafkaSettings, delivery_timeout_s: float = 5.0, **overrides: Any):
        self._producer = Producer(durable_config(kafka, delivery_timeout_s, **overrides))
        self._timeout = delivery_timeout_s
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-acks", daemon=True)
        self._poller.start()
        self.last_error: str | None = None

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def produce(self, topic: str, key: bytes | None, value: bytes | None, headers: Any,
                on_delivery: Callable[[Any, Any], None]) -> None:
        """Queue one record; ``on_delivery(error, message)`` runs on the poll thread when the broker
        answers. For callers that track acknowledgements themselves (pipeline.runtime.output).
        Raises BufferError when the queue is full and KafkaException when librdkafka refuses."""
        self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)

    def produce_to(self, topic: str, partition: int, value: bytes, headers: Any,
                   on_delivery: Callable[[Any, Any], None]) -> None:
        """``produce`` of a keyless record to a chosen partition (batch records, pipeline.wire.batch)."""
        self._producer.produce(topic, value, None, partition=partition, headers=headers, on_delivery=on_delivery)

    def produce_keyed_to(self, topic: str, partition: int, key: bytes | None, value: bytes | None, headers: Any,
                         on_delivery: Callable[[Any, Any], None]) -> None:
        """``produce`` to a chosen partition: batch records, and changelogs of tables whose rows are
        partitioned by a part of their key (pipeline.runtime.state)."""
        self._producer.produce(topic, value, key, partition=partition, headers=headers, on_delivery=on_delivery)

    def warm_up(self, topics: Iterable[str], timeout_s: float = 5.0) -> None:
        """Fetch the topics' metadata now (blocking; run it in a thread). librdkafka keeps what a
        metadata answer says, so the first record to each topic is not held back by a metadata
        round trip of its own (measured: ~100 ms on the first alert after a worker starts)."""
        for topic in topics:
            self._producer.list_topics(topic=topic, timeout=timeout_s)

    def poll(self, timeout: float) -> None:
        """Serve delivery reports now (a caller waiting out a full queue)."""
        self._producer.poll(timeout)

    async def send_all(self, records: Iterable[OutgoingRecord], timeout: float | None = None) -> None:
        """Write every record; return once all are acknowledged, else raise ProduceError."""
        await self._send(((r.topic, r.key, r.value, list(r.headers) or None) for r in records), timeout)

    async def send_values(self, topic: str, keys: Sequence[bytes | None], values: Sequence[bytes],
                          timeout: float | None = None, partitions: int | None = None,
                          timestamp_ms: int | None = None) -> None:
        """send_all for records of one topic without headers (the bridge's hot path: no record objects).

        With ``partitions`` (the topic's count) they are written as batch records, one per partition
        (pipeline.wire.batch). ``timestamp_ms``: every record's timestamp (the bridge's receipt of the
        request: event time, pipeline.runtime.event_time); by default the producer's clock."""
        if partitions is None:
            records = ((topic, key, value, None) for key, value in zip(keys, values, strict=True))
        else:
            records = ((topic, None, value, BATCH_HEADERS, partition)
                       for partition, value in pack_by_partition(keys, values, partitions))
        await self._send(records, timeout, timestamp_ms or 0)

    async def _send(self, records: Iterable[tuple], timeout: float | None, timestamp_ms: int = 0) -> None:
        # One future per call, not per record: the delivery callbacks (on the poll thread) count the
        # records down, and only the last one wakes the event loop.
        loop = asyncio.get_running_loop()
        batch = _Acks(loop, loop.create_future())
        produce, on_delivery = self._producer.produce, batch.on_delivery
        queued = 0
        refused: str | None = None
        for topic, key, value, headers, *partition in records:  # (topic, key, value, headers[, partition])
            try:
                if partition:
                    produce(topic, value, key, partition=partition[0], headers=headers, on_delivery=on_delivery,
                            timestamp=timestamp_ms)
                else:
                    produce(topic, value, key, headers=headers, on_delivery=on_delivery, timestamp=timestamp_ms)
            except BufferError:
                refused = "producer queue is full; the broker is not keeping up"
                break
            except KafkaException as exc:
                refused = f"produce failed: {exc.args[0].str()}"
                break
            queued += 1
        batch.expect(queued)
        wait_s = timeout or self._timeout + 1.0
        if refused is not None:
            # Records queued before the refusal still go out: wait for them, so that a caller
            # never sees a failure while writes of the same call are still landing behind it.
            if queued:
                await asyncio.wait([batch.future], timeout=wait_s)
            self.last_error = refused
            raise ProduceError(refused)
        if not queued:
            return
        try:
            error = await asyncio.wait_for(batch.future, wait_s)
        except asyncio.TimeoutError as exc:
            self.last_error = "broker acknowledgement timed out"
            raise ProduceError(self.last_error) from exc
        if error is not None:
            self.last_error = f"broker did not accept the record: {error.str()}"
            raise ProduceError(self.last_error)
        self.last_error = None

    def broker_reachable(self, timeout: float = 2.0) -> bool:
        try:
            return bool(self._producer.list_topics(timeout=timeout).brokers)
        except KafkaException:
            return False

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is in flight (graceful shutdown); returns how many records were not delivered."""
        remaining = self._producer.flush(timeout)
        self._closed.set()
        self._poller.join(timeout=1.0)
        return remaining


def send_blocking(kafka: KafkaSettings, records: Iterable[OutgoingRecord], timeout_s: float = 60.0
                  ) -> tuple[int, list[str]]:
    """Write ``records`` from synchronous code (operator commands) and wait for every acknowledgement;
    returns (records acknowledged, one line per failure)."""
    producer = Producer(durable_config(kafka, timeout_s / 2))
    failures: list[str] = []
    sent = 0

    def acknowledged(err, msg) -> None:
        if err is not None:
            failures.append(f"{msg.key()!r}: {err}")

    for record in records:
        producer.produce(record.topic, value=record.value, key=record.key, headers=list(record.headers) or None,
                         on_delivery=acknowledged)
        producer.poll(0)
        sent += 1
    if producer.flush(timeout_s) != 0:
        failures.append(f"the broker did not acknowledge every record within {timeout_s:.0f}s")
    return sent - len(failures), failures


class _Acks:
    """The delivery reports of one send: counts them down and settles ``future`` once, with the first
    error or None, when the last record of the call is acknowledged (or failed)."""

    __slots__ = ("_loop", "future", "_pending", "_error", "_lock")

    # Reports may arrive before the call knows how many records it queued (a refusal midway), so the
    # count starts far above any batch and ``expect`` takes the difference off.
    _UNKNOWN = 1 << 62

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future):
        self._loop, self.future = loop, future
        self._pending = self._UNKNOWN
        self._error: KafkaError | None = None
        # Reports come from the poll thread, and from flush() on shutdown.
        self._lock = threading.Lock()

    def on_delivery(self, err: KafkaError | None, _msg) -> None:
        with self._lock:
            if err is not None and self._error is None:
                self._error = err
            self._pending -= 1
            done = self._pending == 0
        if done:
            self._loop.call_soon_threadsafe(_settle, self.future, self._error)

    def expect(self, queued: int) -> None:
        with self._lock:
            self._pending -= self._UNKNOWN - queued
            done = queued and self._pending == 0
        if done:
            _settle(self.future, self._error)


def _settle(future: asyncio.Future, err: KafkaError | None) -> None:
    if not future.done():  # else the request already timed out and went away
        future.set_result(err)
