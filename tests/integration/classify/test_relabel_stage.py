"""Relabeling in the normalize worker with the real broker: labels rewritten before the fingerprint,
a dropped alert counted on /metrics and neither forwarded nor dead-lettered; a bad file stops the
worker with the key path."""

import os
import subprocess
import sys

import orjson
from confluent_kafka import Producer

from pipeline.devenv.components import Component
from pipeline.devenv.process import free_port
from pipeline.fingerprint import alert_fingerprint
from pipeline.runtime.producer import durable_config
from pipeline.settings import settings_env
from tests.integration.classify.helpers import metric_value, with_classification
from tests.integration.helpers import SPLIT_TOPOLOGY, settings_with_topology, wait_for_records

RELABEL = """
relabel:
  - {action: map, label: severity, values: {crit: critical}}
  - {action: drop_label, labels: [pod]}
  - {action: drop, match: ['env="sandbox"']}
"""


def send_raw(settings, *alerts):
    producer = Producer(durable_config(settings.kafka, 10))
    for alert in alerts:
        producer.produce(settings.topic("alerts.raw"), value=orjson.dumps(alert))
    assert producer.flush(15) == 0


def test_normalize_relabels_and_counts_dropped_alerts(kafka_bootstrap, tmp_path):
    port = free_port()
    settings = with_classification(settings_with_topology(kafka_bootstrap, "relabel", SPLIT_TOPOLOGY), tmp_path, RELABEL,
                                   web_port=port)
    with Component("normalize", ["worker", "normalize"], settings, tmp_path / "logs") as worker:
        send_raw(settings, {"labels": {"alertname": "Sandboxed", "env": "sandbox"}},
                 {"labels": {"alertname": "Kept", "severity": "crit", "pod": "p-1"}},
                 {"labels": {"alertname": "Kept", "severity": "crit", "pod": "p-2"}})
        normalized = wait_for_records(settings, "alerts.normalized", lambda rs: len(rs) >= 2, alive=worker.alive,
                                      describe=worker.log_tail)
        assert metric_value(port, 'pipeline_relabel_dropped_alerts_total{rule="2:drop"}') == 1
    labels = {"alertname": "Kept", "severity": "critical"}
    assert [r.value.alert.labels for r in normalized] == [labels, labels]
    assert {r.key for r in normalized} == {alert_fingerprint(labels)}
    assert list(wait_for_records(settings, "alerts.dlq", lambda rs: True)) == []


def test_a_bad_classification_file_stops_the_worker_with_the_key_path(kafka_bootstrap, tmp_path):
    settings = with_classification(settings_with_topology(kafka_bootstrap, "relabel", SPLIT_TOPOLOGY), tmp_path,
                                   "relabel: [{action: replace, source_labels: [a], regex: '(', target: b}]")
    for stage in ("normalize", "classify"):
        result = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker", stage], capture_output=True,
                                text=True, timeout=60, env={**os.environ, **settings_env(settings)})
        assert result.returncode != 0
        assert f"stage '{stage}': " in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert "classification.yaml: relabel.0.replace.regex: Value error, invalid regex '('" in result.stderr
