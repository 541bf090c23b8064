"""The Kafka connector against the real broker: the notification lands on the topic, acknowledged."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import NewTopic

from connectors.sinks.kafka import KafkaConnector
from pipeline.runtime.admin import admin_client
from pipeline.models import Notification
from pipeline.runtime.producer import DurableProducer
from pipeline.wire import decode
from tests.unit.connectors.factories import build, notification

pytestmark = pytest.mark.integration


def test_notification_is_produced_with_group_key_and_headers(settings, topic_prefix) -> None:
    topic = f"{topic_prefix}alerts.out"
    admin = admin_client(settings.kafka)
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(30)
    (connector,) = build(f"  kafka_configs: [{{topic: '{topic}', headers: {{source: pipeline}}}}]")
    assert isinstance(connector, KafkaConnector)
    producer = DurableProducer(settings.kafka, delivery_timeout_s=15.0)
    connector.use_producer(producer)
    item = notification(integration="kafka/0")
    try:
        outcome = asyncio.run(connector.deliver(item, None))  # type: ignore[arg-type]  # no HTTP, no threads
    finally:
        asyncio.run(connector.aclose())
        producer.close()
    assert outcome.kind == "delivered", outcome.reason

    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"{topic_prefix}check",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None, "nothing arrived on the topic"
    finally:
        consumer.close()
    assert message.key() == item.group_key.encode()
    assert decode(Notification, message.value()) == item
    headers = dict(message.headers())
    assert headers["notification-id"] == item.id.encode() and headers["source"] == b"pipeline"


def test_missing_topic_is_retryable_after_the_delivery_timeout(settings, topic_prefix) -> None:
    # librdkafka keeps the record while the topic may still appear; our tiers then retry or dead-letter it.
    (connector,) = build(f"  kafka_configs: [{{topic: '{topic_prefix}does-not-exist'}}]")
    producer = DurableProducer(settings.kafka, delivery_timeout_s=3.0, **{"allow.auto.create.topics": False})
    connector.use_producer(producer)
    try:
        outcome = asyncio.run(connector.deliver(notification(), None))  # type: ignore[arg-type]
    finally:
        producer.close()
    assert outcome.kind == "retryable"
    assert outcome.reason == "kafka: broker did not accept the record: Local: Message timed out"
