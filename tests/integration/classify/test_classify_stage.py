"""The classify worker with the real broker: rules and severity defaults reach alerts.classified as
labels and as the classification record; an unreadable record goes to alerts.dlq."""

from confluent_kafka import Producer

from pipeline.devenv.components import Component
from pipeline.devenv.process import free_port
from pipeline.runtime.producer import durable_config
from tests.integration.classify.helpers import (
    by_alertname,
    deduped_event,
    metric_value,
    send_deduped,
    with_classification,
)
from tests.integration.helpers import SPLIT_TOPOLOGY, settings_with_topology, wait_for_records

RULES = """
classification:
  rules:
    - name: db
      match: ['alertname="PostgresDown"']
      priority: P0
      category: infrastructure
      team: database
      tags: [database]
"""


def test_rules_and_severity_defaults_reach_alerts_classified(kafka_bootstrap, tmp_path):
    port = free_port()
    settings = with_classification(settings_with_topology(kafka_bootstrap, "classify", SPLIT_TOPOLOGY), tmp_path, RULES, web_port=port)

    with Component("classify", ["worker", "classify"], settings, tmp_path / "logs") as worker:
        send_deduped(settings, deduped_event(alertname="PostgresDown", severity="warning"),
                     deduped_event(alertname="DiskFilling", severity="warning"),
                     deduped_event(alertname="Heartbeat", severity="info"))
        producer = Producer(durable_config(settings.kafka, 10))
        producer.produce(settings.topic("alerts.deduped"), key=b"k", value=b"not json")
        assert producer.flush(15) == 0
        classified = wait_for_records(settings, "alerts.classified", lambda rs: len(rs) >= 3, alive=worker.alive,
                                      describe=worker.log_tail, timeout=90)
        dead = wait_for_records(settings, "alerts.dlq", lambda rs: len(rs) >= 1, alive=worker.alive,
                                describe=worker.log_tail)
        assert metric_value(port, 'pipeline_classified_alerts_total{classified_by="rules"}') == 3

    alerts = by_alertname(classified)
    db = alerts["PostgresDown"]
    assert (db.classification.priority, db.classification.category, db.classification.team) == (
        "P0", "infrastructure", "database")
    assert db.classification.auto_incident is True and db.classification.tags == ["database"]
    assert db.alert.labels["priority"] == "P0" and db.alert.labels["team"] == "database"
    assert alerts["DiskFilling"].classification.priority == "P2"
    assert alerts["DiskFilling"].classification.auto_incident is False
    assert alerts["Heartbeat"].alert.labels["priority"] == "P4"
    # The fingerprint stays the dedup identity computed over the sender's labels.
    sent = deduped_event(alertname="PostgresDown", severity="warning")
    assert db.alert.fingerprint == sent.alert.fingerprint
    assert {r.key for r in classified} == {a.alert.fingerprint for a in alerts.values()}
    assert dead[0].value == b"not json"
    assert dead[0].headers["__connect.errors.exception.class.name"] == "WireError"
    assert dead[0].headers["pipeline.errors.stage"] == "classify"
