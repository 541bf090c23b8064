"""Every record of the wire contract survives a trip through the real broker, in both encodings."""

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from pipeline import wire
from pipeline.runtime.admin import admin_client
from pipeline.models import RECORD_MODELS
from pipeline.wire.examples import fixture_examples

EXAMPLES = fixture_examples()


def test_every_record_has_an_example():
    assert set(EXAMPLES) == set(RECORD_MODELS)


@pytest.mark.parametrize("encoding", ["json", "avro"])
def test_every_schema_round_trips_through_the_broker(settings, encoding):
    encode = wire.encode if encoding == "json" else wire.encode_avro
    topic = settings.topic(f"roundtrip.{encoding}")
    admin = admin_client(settings.kafka)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)

    producer = Producer({**settings.kafka.client_config(), "acks": "all", "enable.idempotence": True})
    for name, record in EXAMPLES.items():
        producer.produce(topic, key=name.encode(), value=encode(record))
    assert producer.flush(15) == 0

    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"{topic}.reader",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    received = {}
    try:
        while len(received) < len(EXAMPLES):
            message = consumer.poll(10)
            assert message is not None, f"only {sorted(received)} came back"
            assert message.error() is None, message.error()
            name = message.key().decode()
            received[name] = wire.decode(RECORD_MODELS[name], message.value())
    finally:
        consumer.close()
    assert received == EXAMPLES
