"""Every stage as a real worker on the real broker: an alert posted to the bridge comes out of the
group stage as a notification record, with the silence and inhibition rules of the configuration
applied at flush time."""

import time
from datetime import datetime, timedelta, timezone

from confluent_kafka import Producer

from pipeline import wire
from pipeline.models import EnrichedAlert, Matcher, Notification, Silence
from pipeline.runtime.producer import durable_config
from pipeline.runtime.reader import read_topic
from tests.integration.helpers import settings_with_topology, wait_for_records
from tests.integration.pipeline_harness import running_pipeline

CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['service="db"']
      receiver: db
      group_by: [service]
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:9/team"}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:9/db"}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
"""


def write_silence(settings, silence: Silence) -> None:
    producer = Producer(durable_config(settings.kafka, 10))
    producer.produce(settings.topic("silences"), key=silence.id.encode(), value=wire.encode(silence))
    assert producer.flush(15) == 0


def notified(settings) -> list[Notification]:
    return [r.value for r in read_topic(settings, "notifications")]


def test_alerts_flow_to_notifications_with_muting(kafka_bootstrap, tmp_path):
    settings = settings_with_topology(kafka_bootstrap, "chain")
    now = datetime.now(timezone.utc)
    write_silence(settings, Silence(
        id="silence-quiet", matchers=[Matcher(name="alertname", value="Quiet")],
        starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1), updated_at=now,
        created_by="test", comment="muted on purpose"))
    with running_pipeline(settings, tmp_path, CONFIG) as pipeline:
        pipeline.post_alerts([
            {"labels": {"alertname": "Loud", "severity": "warning"}, "annotations": {"summary": "hear me"}},
            {"labels": {"alertname": "Quiet", "severity": "warning"}},
            {"labels": {"alertname": "DbDown", "service": "db", "severity": "critical"}},
            {"labels": {"alertname": "DbSlow", "service": "db", "severity": "warning"}},
        ])
        records = wait_for_records(settings, "notifications", lambda rs: len(rs) >= 2, timeout=60,
                                   alive=lambda: all(w.alive() for w in pipeline.workers.values()),
                                   describe=pipeline.logs)
        time.sleep(3)  # a muted alert that leaked would be flushed within group_wait + interval
        pipeline.check_alive()
        sent = notified(settings)

    by_receiver = {}
    for n in sent:
        by_receiver.setdefault(n.receiver, []).append(n)
    assert sorted(by_receiver) == ["db", "team"], [(n.receiver, n.group_key) for n in sent]
    [team] = by_receiver["team"]
    assert [a.labels["alertname"] for a in team.alerts] == ["Loud"]   # Quiet is silenced
    assert team.group_key == '{}:{alertname="Loud"}'
    assert team.group_labels == {"alertname": "Loud"}
    assert team.common_annotations == {"summary": "hear me"}
    assert team.external_url == "http://pipeline.test" and team.integration == "webhook/0"
    [db] = by_receiver["db"]
    assert [a.labels["alertname"] for a in db.alerts] == ["DbDown"]   # DbSlow is inhibited
    assert db.group_key == '{}/{service="db"}:{service="db"}'
    assert records[0].key == records[0].value.id

    # The public feed has every alert once with its decisions.
    enriched = {r.value.alert.labels["alertname"]: r.value for r in read_topic(settings, "alerts.enriched")}
    assert isinstance(enriched["Quiet"], EnrichedAlert)
    assert enriched["Quiet"].silenced_by == ["silence-quiet"] and enriched["Quiet"].state == "suppressed"
    assert [r.receiver for r in enriched["DbSlow"].routes] == ["db"]
    assert enriched["Loud"].state == "active"
