"""The classify stage's per-record work without Kafka: decode or reject, rules, the model, workflows."""

import asyncio
from datetime import datetime, timezone

import httpx
import orjson

from pipeline import wire
from pipeline.classification.config import parse_classification_file
from pipeline.classification.llm import LlmClassifier
from pipeline.dead_letters import Rejected
from pipeline.models import Alert, AlertEvent, EnrichedAlert
from pipeline.settings import ClassificationSettings
from pipeline.enrichment.engine import Enricher
from pipeline.stages.classify import AlertClassifier, Classified

NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
FILE = parse_classification_file("""
classification:
  rules: [{name: db, match: ['alertname="PostgresDown"'], priority: P0, team: database}]
workflows:
  - name: runbooks
    trigger: {priority: [P0, P1]}
    actions: [{type: annotations, annotations: {runbook_url: 'https://runbooks.example/{{ labels.alertname }}'}}]
""")


def record(**labels) -> bytes:
    alert = Alert.with_fingerprint(labels=labels, starts_at=NOW, status="firing", updated_at=NOW)
    return wire.encode(AlertEvent(alert=alert, source="t", source_format="direct", received_at=NOW, change="new"))


def model(severity):
    content = orjson.dumps({"severity": severity, "category": "capacity", "confidence": 0.8, "reasoning": "r",
                            "action_items": [], "tags": []}).decode()
    return httpx.MockTransport(lambda r: httpx.Response(200, json={"choices": [{"message": {"content": content}}]}))


def classifier(severity="high"):
    llm = LlmClassifier(ClassificationSettings(llm_enabled=True), FILE.llm, redis_url=None,
                        ignored_labels=("priority", "team", "category"), transport=model(severity))
    return AlertClassifier(FILE, llm, Enricher(FILE.workflows))


def process(c, value):
    return asyncio.run(c.process(value))


def test_unreadable_records_are_rejected_for_the_dead_letter_topic():
    bad = process(classifier(), b"{")
    assert isinstance(bad, Rejected) and bad.error_class == "WireError" and "JSON" in bad.reason
    assert process(classifier(), None) == Rejected("EmptyRecord", "record has no value (tombstone)")


def test_rules_then_model_then_workflows_keeping_key_and_fingerprint():
    value = record(alertname="DiskFull", severity="info")
    out = process(classifier("high"), value)
    assert isinstance(out, Classified)
    enriched = wire.decode(EnrichedAlert, out.value)
    sent = wire.decode(AlertEvent, value)
    assert out.key == sent.alert.fingerprint.encode() and enriched.alert.fingerprint == sent.alert.fingerprint
    assert (enriched.classification.classified_by, enriched.classification.priority) == ("llm", "P1")
    assert enriched.alert.labels["priority"] == "P1"  # the workflow trigger saw the model's priority
    assert enriched.alert.annotations["runbook_url"] == "https://runbooks.example/DiskFull"
    assert enriched.change == "new" and enriched.source == "t"


def test_a_rule_decision_is_not_sent_to_the_model():
    out = wire.decode(EnrichedAlert, process(classifier("info"), record(alertname="PostgresDown")).value)
    assert (out.classification.classified_by, out.classification.priority) == ("rules", "P0")
    assert out.classification.team == "database"


def test_the_shipped_example_file_adds_runbook_dashboard_and_trace_links():
    from pipeline.classification.config import load_classification_file
    from pipeline.paths import REPO_ROOT

    shipped = load_classification_file(REPO_ROOT / "deploy" / "local" / "classification.yaml")
    c = AlertClassifier(shipped, None, Enricher(shipped.workflows))
    out = process(c, record(alertname="PostgresDown", trace_id="4bf92f3577b34da6a3ce929d0e0e4736"))
    enriched = wire.decode(EnrichedAlert, out.value)
    assert [link.url for link in enriched.links] == [
        "https://runbooks.example.com/alerts/postgresdown",
        "https://grafana.example.com/d/alerts?var-alertname=PostgresDown&var-namespace=all",
        "https://jaeger.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736"]
    assert enriched.enrichment_errors == []
    quiet = wire.decode(EnrichedAlert, process(c, record(alertname="Watchdog")).value)
    assert quiet.links == []  # P4: no workflow
