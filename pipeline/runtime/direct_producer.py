"""The Python helper for direct producers: alerts straight to alerts.raw, with the bridge's rules.

    from pipeline.runtime.direct_producer import RawAlertProducer
    with RawAlertProducer(source="batch-job") as producer:
        report = producer.send([{"labels": {"alertname": "DiskFull", "instance": "db1"}}])

Alerts use the Alertmanager API v2 shape (labels, annotations, startsAt, endsAt, generatorURL).
Invalid ones are reported, valid ones written (keyed by fingerprint, acknowledged by all replicas).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from confluent_kafka import Producer

from pipeline import wire
from pipeline.alertmanager_config import global_resolve_timeout
from pipeline.ingest.errors import AlertProblem
from pipeline.ingest.formats import alertmanager_v2
from pipeline.runtime.producer import durable_config
from pipeline.settings import Settings


@dataclass
class SendReport:
    accepted: int = 0
    problems: list[AlertProblem] = field(default_factory=list)


class DeliveryError(RuntimeError):
    """The broker did not acknowledge every accepted alert."""


class RawAlertProducer:
    def __init__(self, settings: Settings | None = None, *, source: str = "direct",
                 resolve_timeout: timedelta | None = None, timeout_s: float = 10.0):
        self.settings = settings or Settings()
        self.source = source
        self.resolve_timeout = resolve_timeout or global_resolve_timeout(self.settings.alertmanager_config)
        self.topic = self.settings.topic("alerts.raw")
        self.timeout_s = timeout_s
        self._producer = Producer(durable_config(self.settings.kafka, timeout_s))

    def send(self, alerts: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> SendReport:
        payload = [alerts] if isinstance(alerts, Mapping) else list(alerts)
        batch = alertmanager_v2.parse(payload, source=self.source, received_at=datetime.now(timezone.utc),
                                      resolve_timeout=self.resolve_timeout)
        failures: list[str] = []

        def on_delivery(err, _msg):
            if err is not None:
                failures.append(err.str())

        for raw in batch.alerts:
            key = raw.fingerprint.encode() if raw.fingerprint else None
            self._producer.produce(self.topic, key=key, value=wire.encode(raw), on_delivery=on_delivery)
        remaining = self._producer.flush(self.timeout_s)
        if remaining or failures:
            raise DeliveryError(f"{remaining} alerts unacknowledged, {len(failures)} failed: {failures[:3]}")
        return SendReport(accepted=len(batch.alerts), problems=batch.problems)

    def close(self) -> None:
        self._producer.flush(self.timeout_s)

    def __enter__(self) -> RawAlertProducer:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
