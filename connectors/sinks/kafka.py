"""Kafka sink: the notification record, as JSON (pipeline.wire), produced to a configured topic.

Pipeline extension ``kafka_configs``: ``topic`` (required), ``key`` — ``group`` (default: the group key,
so one group's notifications stay in order on one partition), ``notification`` (the notification id)
or ``none`` — and ``headers`` (static string headers added to every record). Every record also carries
``notification-id``, ``receiver`` and ``status`` headers.

Delivery is produce + acknowledgement by all in-sync replicas through ``pipeline.runtime.producer.
DurableProducer`` on the pipeline's own cluster (``Settings().kafka``) unless the sink hands the
connector a producer with ``use_producer``. No acknowledgement in time is retryable; a record the broker
can never take (too large, topic unknown or not authorized) is permanent. Call ``aclose`` at shutdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome
from pipeline.models import Notification
from pipeline.runtime.producer import DurableProducer, OutgoingRecord, ProduceError
from pipeline.wire import encode

# librdkafka error names after which the same record can never be accepted
PERMANENT_ERRORS = ("MSG_SIZE_TOO_LARGE", "Message size too large", "UNKNOWN_TOPIC", "Unknown topic",
                    "TOPIC_AUTHORIZATION_FAILED", "Topic authorization failed", "INVALID_RECORD")


class KafkaConfig(ConnectorConfig):
    topic: str
    key: str = "group"
    headers: dict[str, str] = {}


class KafkaConnector(Connector):
    kind: ClassVar[str] = "kafka"
    config_model: ClassVar[type[ConnectorConfig]] = KafkaConfig
    config: KafkaConfig

    def __init__(self, config: ConnectorConfig, receiver: str, index: int = 0) -> None:
        super().__init__(config, receiver, index)
        self._producer: DurableProducer | None = None
        self._owns_producer = False

    @property
    def target_key(self) -> str:
        return f"kafka:{self.config.topic}"

    def use_producer(self, producer: DurableProducer) -> None:
        """Produce through ``producer`` (shared, owned by the caller) instead of one of our own."""
        self._producer, self._owns_producer = producer, False

    def record(self, notification: Notification) -> OutgoingRecord:
        key = {"group": notification.group_key, "notification": notification.id}.get(self.config.key)
        headers = [(name, value.encode()) for name, value in self.config.headers.items()]
        headers += [("notification-id", notification.id.encode()), ("receiver", notification.receiver.encode()),
                    ("status", notification.status.encode())]
        return OutgoingRecord(self.config.topic, key.encode() if key else None, encode(notification), headers)

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        raise TypeError("the Kafka sink produces records: use record() and deliver(), not render()")

    def classify(self, response: httpx.Response) -> Outcome:
        raise TypeError("the Kafka sink has no HTTP responses: outcomes come from classify_produce_error()")

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        if self._producer is None:
            from pipeline.settings import Settings

            self._producer, self._owns_producer = DurableProducer(Settings().kafka), True
        try:
            await self._producer.send_all([self.record(notification)])
        except ProduceError as exc:
            return classify_produce_error(str(exc))
        return Outcome.delivered()

    async def aclose(self) -> None:
        if self._producer is not None and self._owns_producer:
            self._producer.close()
        self._producer = None


def classify_produce_error(message: str) -> Outcome:
    if any(marker.lower() in message.lower() for marker in PERMANENT_ERRORS):
        return Outcome.permanent(f"kafka: {message}")
    return Outcome.retryable(f"kafka: {message}")
