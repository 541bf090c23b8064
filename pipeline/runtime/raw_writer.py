"""The one durable write path into the pipeline: raw-alert records to alerts.raw, dead letters to alerts.dlq.

The bridge (push sources) and every poll and stream source write through a RawWriter, so an alert
is stored the same way whoever received it: acks=all with the idempotent producer
(pipeline.runtime.producer.DurableProducer), packed as batch records, one per partition of
alerts.raw (pipeline.wire.batch), keyed by fingerprint so one alert always lands on one partition.
``write`` returns only once the broker acknowledged every record of the call, else raises
ProduceError: callers answer or acknowledge their upstream only after it returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.runtime.producer import DurableProducer, OutgoingRecord, ProduceError
from pipeline.settings import Settings
from pipeline.topology import load_topology

__all__ = ["DeadLetter", "ProduceError", "RawWriter"]

RAW_TOPIC = "alerts.raw"
DLQ_TOPIC = "alerts.dlq"


@dataclass(frozen=True)
class DeadLetter:
    """An input that could not be taken, as it came, with pipeline.dead_letters headers."""

    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]


class RawWriter:
    def __init__(self, producer: DurableProducer, raw_topic: str, dlq_topic: str, raw_partitions: int | None):
        """``raw_partitions``: alerts.raw's partition count, for batch records; None writes one record
        per alert (tests of the plain-record reader path)."""
        self.producer = producer
        self.raw_topic, self.dlq_topic = raw_topic, dlq_topic
        self.raw_partitions = raw_partitions

    @classmethod
    def from_settings(cls, settings: Settings, ack_timeout_s: float,
                      producer: DurableProducer | None = None) -> RawWriter:
        """A writer for this deployment's topics (prefix and partition count from the topology);
        ``producer`` lets the bridge share its producer with the API's silence writes."""
        topology = load_topology(settings.topics.topology_file)
        return cls(
            producer or DurableProducer(settings.kafka, delivery_timeout_s=ack_timeout_s),
            raw_topic=settings.topic(RAW_TOPIC),
            dlq_topic=settings.topic(DLQ_TOPIC),
            raw_partitions=topology.topics[RAW_TOPIC].partitions,
        )

    async def write(self, keys: Sequence[bytes | None], values: Sequence[bytes], received_ms: int | None = None) -> None:
        """Store raw-alert records (key = fingerprint); ProduceError unless every one is acknowledged.
        ``received_ms``: when they were received, every record's timestamp (the event time the chains'
        watermarks follow, pipeline.runtime.event_time)."""
        if values:
            await self.producer.send_values(self.raw_topic, keys, values, partitions=self.raw_partitions,
                                            timestamp_ms=received_ms)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        """Store dead letters, one plain record each (their headers say why); ProduceError unless all
        are acknowledged."""
        if letters:
            await self.producer.send_all(
                OutgoingRecord(self.dlq_topic, letter.key, letter.value, tuple(letter.headers)) for letter in letters)

    def broker_reachable(self, timeout: float = 2.0) -> bool:
        return self.producer.broker_reachable(timeout)

    @property
    def last_error(self) -> str | None:
        return self.producer.last_error

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is in flight; returns how many records were not delivered."""
        return self.producer.close(timeout)
