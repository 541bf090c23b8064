"""A notification for a group of thousands of alerts is megabytes: its topics and the producers take it
(Kafka's default 1 MB limit would refuse it)."""

import asyncio
from datetime import datetime, timezone

from pipeline import wire
from pipeline.models import Alert, Notification
from pipeline.runtime.producer import DurableProducer, OutgoingRecord
from pipeline.runtime.reader import read_topic


def test_a_notification_of_five_thousand_alerts_goes_through(settings, applied_topology):
    now = datetime.now(timezone.utc)
    alerts = [Alert.with_fingerprint(labels={"alertname": "Crashloop", "pod": f"pod-{i:05d}", "namespace": "big"},
                                     annotations={"summary": "x" * 200}, starts_at=now, status="firing",
                                     updated_at=now) for i in range(5000)]
    notification = Notification(id="big", receiver="team", status="firing", group_key="{}:{}", alerts=alerts,
                                flush_seq=1, created_at=now, integration="webhook/0")
    value = wire.encode(notification)
    assert len(value) > 2 * 1024 * 1024
    producer = DurableProducer(settings.kafka, 30)
    try:
        asyncio.run(producer.send_all([OutgoingRecord(settings.topic("notifications"), b"big", value)]))
    finally:
        producer.close()
    [record] = list(read_topic(settings, "notifications"))
    assert len(record.value.alerts) == 5000
