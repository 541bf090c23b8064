"""Shared pieces of the classify-stage integration tests: events, a producer, a worker with its own
classification file and settings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from confluent_kafka import Producer

from pipeline import wire
from pipeline.models import Alert, AlertEvent
from pipeline.runtime.producer import durable_config
from pipeline.settings import ClassificationSettings, Settings, WorkerSettings


def deduped_event(**labels: str) -> AlertEvent:
    now = datetime.now(timezone.utc)
    alert = Alert.with_fingerprint(labels=labels, annotations={"summary": "s"}, starts_at=now - timedelta(minutes=1),
                                   ends_at=now + timedelta(minutes=5), status="firing", updated_at=now, timeout=True)
    return AlertEvent(alert=alert, source="test", source_format="direct", received_at=now, change="new")


def send_deduped(settings: Settings, *events: AlertEvent) -> None:
    producer = Producer(durable_config(settings.kafka, 10))
    for event in events:
        producer.produce(settings.topic("alerts.deduped"), key=event.alert.fingerprint.encode(),
                         value=wire.encode(event))
    assert producer.flush(15) == 0


def with_classification(settings: Settings, tmp_path: Path, rules_yaml: str, web_port: int | None = None,
                        **knobs) -> Settings:
    rules_file = tmp_path / "classification.yaml"
    rules_file.write_text(rules_yaml)
    return settings.model_copy(update={
        "worker": WorkerSettings(data_dir=tmp_path / "state", web_port=web_port),
        "classification": ClassificationSettings(rules_file=rules_file, **knobs),
    })


def metric_value(port: int, sample: str) -> float:
    """The value of one sample line of the worker's /metrics (0 when absent)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def by_alertname(records) -> dict[str, object]:
    return {r.value.alert.labels["alertname"]: r.value for r in records if r.value is not None}
