"""A durable Kafka producer for asyncio code: every write is acknowledged by all in-sync replicas.

The bridge answers 2xx only after ``send_all`` returned, so an accepted alert is on the broker.
confluent-kafka delivers acknowledgements on a background poll thread; they are handed to the
event loop as future results.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from pipeline.kafka_clients import RDKAFKA_LOGGER
from pipeline.settings import KafkaSettings

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
        # Java's partitioner, as Faust (aiokafka) and Java clients use: one key, one partition,
        # whoever writes it. Stage tables rely on that (pipeline.stages.app.StageApp.table).
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

    async def send_all(self, records: Iterable[OutgoingRecord], timeout: float | None = None) -> None:
        """Write every record; return once all are acknowledged, else raise ProduceError."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future] = []

        def on_delivery(future: asyncio.Future):
            def callback(err: KafkaError | None, _msg) -> None:
                loop.call_soon_threadsafe(_settle, future, err)
            return callback

        refused: str | None = None
        for record in records:
            future = loop.create_future()
            try:
                self._producer.produce(
                    record.topic, value=record.value, key=record.key,
                    headers=list(record.headers) or None, on_delivery=on_delivery(future),
                )
            except BufferError:
                refused = "producer queue is full; the broker is not keeping up"
                break
            except KafkaException as exc:
                refused = f"produce failed: {exc.args[0].str()}"
                break
            futures.append(future)
        if refused is not None:
            # Records queued before the refusal still go out: wait for them, so that a caller
            # never sees a failure while writes of the same call are still landing behind it.
            if futures:
                await asyncio.wait(futures, timeout=timeout or self._timeout + 1.0)
            self.last_error = refused
            raise ProduceError(refused)
        if not futures:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*futures), timeout or self._timeout + 1.0)
        except asyncio.TimeoutError as exc:
            self.last_error = "broker acknowledgement timed out"
            raise ProduceError(self.last_error) from exc
        except _DeliveryFailed as exc:
            self.last_error = str(exc)
            raise ProduceError(str(exc)) from exc
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


class _DeliveryFailed(Exception):
    pass


def _settle(future: asyncio.Future, err: KafkaError | None) -> None:
    if future.done():  # the request already timed out and went away
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(_DeliveryFailed(f"broker did not accept the record: {err.str()}"))
