"""The normalize worker against the real broker: good records flow, bad ones are dead-lettered
with the reason and their origin, and the stage never stops."""

from datetime import datetime, timezone

import orjson
import pytest
from confluent_kafka import Producer

from pipeline import wire
from pipeline.devenv.components import Component
from pipeline.models import RawAlert
from pipeline.settings import WorkerSettings
from tests.integration.helpers import SPLIT_TOPOLOGY, wait_for_records

MAX_RECORD_BYTES = 4096


@pytest.fixture
def settings(settings):
    """normalize alone: the topology with every stage in a chain of its own."""
    return settings.model_copy(update={"topics": settings.topics.model_copy(update={"topology_file": SPLIT_TOPOLOGY})})


def direct(labels, **fields) -> bytes:
    return orjson.dumps({"labels": labels, **fields})


BAD_RECORDS = {
    "garbage": (b"\x00\xff\x13garbage", "not JSON and not an Avro"),
    "array": (b'[{"labels": {"a": "b"}}]', "expected a JSON object"),
    "wrong-schema": (b'{"foo": 1}', "labels"),
    "wrong-types": (orjson.dumps({"labels": {"alertname": 1}}), "labels"),
    "bad-label-name": (direct({"1bad": "x"}), 'invalid label set: invalid name "1bad"'),
    "no-labels": (direct({"alertname": ""}), "at least one label pair required"),
    "bad-timestamp": (direct({"alertname": "T"}, startsAt="yesterday"), "starts_at"),
    "oversized": (direct({"alertname": "Big"}, annotations={"blob": "x" * 8000}), "the limit is 4096"),
    "avro-unknown-schema": (wire.AVRO_MAGIC + b"\x01" * 8 + b"\x00", "unknown writer schema"),
    "tombstone": (None, "tombstone"),
}


@pytest.fixture
def worker_settings(settings, applied_topology, tmp_path):
    return settings.model_copy(update={"worker": WorkerSettings(data_dir=tmp_path / "state"),
                                       "max_record_bytes": MAX_RECORD_BYTES})


def test_good_records_flow_and_bad_ones_are_dead_lettered(worker_settings, tmp_path):
    s = worker_settings
    producer = Producer({**s.kafka.client_config(), "acks": "all", "compression.type": "lz4"})
    raw = s.topic("alerts.raw")
    avro_alert = RawAlert(labels={"alertname": "Avro", "job": "j"}, source="batch", source_format="direct",
                          received_at=datetime.now(timezone.utc))
    producer.produce(raw, key=b"k-camel", value=direct({"alertname": "Camel", "job": "j"},
                                                       startsAt="2026-01-01T00:00:00Z",
                                                       generatorURL="http://prom/graph"))
    for name, (value, _reason) in BAD_RECORDS.items():
        producer.produce(raw, key=name.encode(), value=value, headers=[("origin", b"test")])
    producer.produce(raw, key=b"k-avro", value=wire.encode_avro(avro_alert))
    producer.produce(raw, key=b"k-snake", value=orjson.dumps({"labels": {"alertname": "Snake"}, "source": "cron",
                                                              "status": "resolved"}))
    assert producer.flush(15) == 0

    with Component("normalize", ["worker", "normalize"], s, tmp_path / "logs") as worker:
        normalized = wait_for_records(s, "alerts.normalized", lambda r: len(r) >= 3, alive=worker.alive,
                                      describe=worker.log_tail)
        dead = wait_for_records(s, "alerts.dlq", lambda r: len(r) >= len(BAD_RECORDS), alive=worker.alive,
                                describe=worker.log_tail)
        assert worker.alive(), worker.log_tail()

    alerts = {r.value.alert.labels["alertname"]: r for r in normalized}
    assert set(alerts) == {"Camel", "Avro", "Snake"}
    camel = alerts["Camel"].value
    assert camel.source == "direct" and camel.alert.generator_url == "http://prom/graph"
    assert camel.alert.starts_at == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert camel.alert.status == "firing" and camel.alert.timeout
    assert alerts["Snake"].value.alert.status == "resolved" and alerts["Snake"].value.source == "cron"
    assert alerts["Avro"].value.source == "batch"
    for record in normalized:  # re-keyed by fingerprint, whatever the producer's key was
        assert record.key == record.value.alert.fingerprint

    by_key = {r.key: r for r in dead}
    assert set(by_key) == set(BAD_RECORDS)
    for name, (value, reason) in BAD_RECORDS.items():
        record = by_key[name]
        assert reason in record.headers["__connect.errors.exception.message"], (name, record.headers)
        assert record.value == value, f"{name}: original bytes must be kept"
        assert record.headers["__connect.errors.topic"] == raw
        assert record.headers["__connect.errors.offset"].isdigit()
        assert record.headers["pipeline.errors.stage"] == "normalize"
        assert record.headers["origin"] == "test", "original headers are kept"
