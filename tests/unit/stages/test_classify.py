"""The classify processor under the in-memory runtime: decode or dead-letter, rules, the model, workflows."""

from datetime import datetime, timezone

import httpx
import orjson

from pipeline import wire
from pipeline.classification.config import parse_classification_file
from pipeline.classification.llm import LlmClassifier
from pipeline.enrichment.engine import Enricher
from pipeline.models import Alert, AlertEvent
from pipeline.settings import ClassificationSettings
from pipeline.stages.classify import AlertClassifier, ClassifyAsyncProcessor, ClassifyProcessor
from tests.unit.stages.support import dead_letters, runtime

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


def process(c: AlertClassifier, value):
    """The classified alert the processor emits for ``value`` (None when it emitted nothing)."""
    processor = ClassifyProcessor(c) if c.synchronous else ClassifyAsyncProcessor(c)
    rt = runtime(processor)
    rt.send("alerts.deduped", b"key", value, NOW)
    out = rt.records("alerts.classified")
    rt.close()
    return out[0] if out else None


def test_unreadable_records_are_dead_lettered_with_the_reason():
    rt = runtime(ClassifyAsyncProcessor(classifier()))
    rt.send("alerts.deduped", b"k1", b"{", NOW)
    rt.send("alerts.deduped", b"k2", None, NOW)
    bad, empty = dead_letters(rt)
    assert bad["__connect.errors.exception.class.name"] == "WireError"
    assert "JSON" in bad["__connect.errors.exception.message"]
    assert (empty["__connect.errors.exception.class.name"], empty["__connect.errors.exception.message"]) == \
        ("EmptyRecord", "record has no value (tombstone)")
    assert [w.raw for w in rt.records("alerts.dlq")] == [b"{", None] and rt.records("alerts.classified") == []
    rt.close()


def test_rules_then_model_then_workflows_keeping_key_and_fingerprint():
    value = record(alertname="DiskFull", severity="info")
    out = process(classifier("high"), value)
    enriched = out.value
    sent = wire.decode(AlertEvent, value)
    assert out.key == sent.alert.fingerprint.encode() and enriched.alert.fingerprint == sent.alert.fingerprint
    assert (enriched.classification.classified_by, enriched.classification.priority) == ("llm", "P1")
    assert enriched.alert.labels["priority"] == "P1"  # the workflow trigger saw the model's priority
    assert enriched.alert.annotations["runbook_url"] == "https://runbooks.example/DiskFull"
    assert enriched.change == "new" and enriched.source == "t"


def test_a_rule_decision_is_not_sent_to_the_model():
    out = process(classifier("info"), record(alertname="PostgresDown")).value
    assert (out.classification.classified_by, out.classification.priority) == ("rules", "P0")
    assert out.classification.team == "database"


def test_the_shipped_example_file_adds_runbook_dashboard_and_trace_links():
    from pipeline.classification.config import load_classification_file
    from pipeline.paths import REPO_ROOT

    shipped = load_classification_file(REPO_ROOT / "deploy" / "local" / "classification.yaml")
    c = AlertClassifier(shipped, None, Enricher(shipped.workflows))
    out = process(c, record(alertname="PostgresDown", trace_id="4bf92f3577b34da6a3ce929d0e0e4736"))
    enriched = out.value
    assert [link.url for link in enriched.links] == [
        "https://runbooks.example.com/alerts/postgresdown",
        "https://grafana.example.com/d/alerts?var-alertname=PostgresDown&var-namespace=all",
        "https://jaeger.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736"]
    assert enriched.enrichment_errors == []
    quiet = process(c, record(alertname="Watchdog")).value
    assert quiet.links == []  # P4: no workflow
