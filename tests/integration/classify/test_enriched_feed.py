"""A downstream consumer of alerts.enriched: classify, mute and route workers on the real broker, the
feed read with `pipeline tail` (filters included) and every value checked against the published Avro
schema, as a consumer in another language would read it."""

import json
import os
import subprocess
import sys
from datetime import datetime

import fastavro

from pipeline.devenv.components import Component
from pipeline.settings import settings_env
from pipeline.wire.contract import load_schema_files
from tests.integration.classify.helpers import deduped_event, send_deduped, with_classification
from tests.integration.helpers import SPLIT_TOPOLOGY, settings_with_topology, wait_for_records

RULES = """
classification:
  rules:
    - {name: db, match: ['alertname="PostgresDown"'], priority: P0, category: infrastructure, team: database}
workflows:
  - name: db-links
    trigger: {alertname: 'Postgres.*', priority: [P0, P1]}
    actions:
      - {type: annotations, annotations: {runbook_url: 'https://runbooks.example/{{ labels.alertname }}'}}
      - {type: link, title: Dashboard, url: 'https://grafana.example/d/pg?var-instance={{ labels.instance | urlencode }}'}
      - {type: link, title: Trace, url: 'https://jaeger.example/trace/{{ labels.trace_id }}', if: ['trace_id!=""']}
"""

# Routes match on the labels classification writes.
ALERTMANAGER = """
route:
  receiver: tickets
  group_by: [alertname]
  routes:
    - {receiver: pager, matchers: ['priority=~"P0|P1"'], continue: true}
    - {receiver: db-team, matchers: ['team="database"']}
receivers:
  - {name: tickets}
  - {name: pager}
  - {name: db-team}
"""

TIMESTAMP_FIELDS = ("starts_at", "ends_at", "updated_at")


def as_avro_datum(value: dict) -> dict:
    """The JSON value with RFC 3339 strings as datetimes (Avro's timestamp-micros logical type)."""
    def when(text):
        return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))
    alert = {**value["alert"], **{k: when(value["alert"].get(k)) for k in TIMESTAMP_FIELDS}}
    return {**value, "alert": alert, "received_at": when(value["received_at"])}


def tail(settings, *args) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "tail", "alerts.enriched", *args],
                            capture_output=True, text=True, timeout=60, env={**os.environ, **settings_env(settings)})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_consumer_reads_priority_category_team_links_and_receivers(kafka_bootstrap, tmp_path):
    am = tmp_path / "alertmanager.yml"
    am.write_text(ALERTMANAGER)
    settings = with_classification(settings_with_topology(kafka_bootstrap, "enriched", SPLIT_TOPOLOGY), tmp_path, RULES)
    settings = settings.model_copy(update={"alertmanager_config": am})
    stages = [Component(name, ["worker", name], settings, tmp_path / "logs") for name in ("classify", "flapping", "mute", "route")]
    try:
        for stage in stages:
            stage.start()
        send_deduped(settings, deduped_event(alertname="PostgresDown", instance="db-1:5432", trace_id="4bf92f35"),
                     deduped_event(alertname="DiskFilling", severity="warning"))
        wait_for_records(settings, "alerts.enriched", lambda rs: len(rs) >= 2,
                         alive=lambda: all(s.alive() for s in stages),
                         describe=lambda: "\n".join(s.log_tail() for s in stages), timeout=120)
    finally:
        for stage in stages:
            stage.stop()

    schema = fastavro.parse_schema(load_schema_files()["EnrichedAlert"])
    records = tail(settings)
    assert len(records) == 2
    for record in records:
        fastavro.validation.validate(as_avro_datum(record["value"]), schema, raise_errors=True)
    by_name = {r["value"]["alert"]["labels"]["alertname"]: r for r in records}

    db = by_name["PostgresDown"]["value"]
    assert by_name["PostgresDown"]["key"] == db["alert"]["fingerprint"]
    c = db["classification"]
    assert (c["priority"], c["category"], c["team"], c["auto_incident"]) == ("P0", "infrastructure", "database", True)
    assert db["alert"]["labels"]["priority"] == "P0"
    assert db["alert"]["annotations"]["runbook_url"] == "https://runbooks.example/PostgresDown"
    assert db["links"] == [
        {"title": "Dashboard", "url": "https://grafana.example/d/pg?var-instance=db-1%3A5432"},
        {"title": "Trace", "url": "https://jaeger.example/trace/4bf92f35"}]
    assert [r["receiver"] for r in db["routes"]] == ["pager", "db-team"]
    assert db["state"] == "active" and db["enrichment_errors"] == []

    disk = by_name["DiskFilling"]["value"]
    assert (disk["classification"]["priority"], disk["links"]) == ("P2", [])
    assert [r["receiver"] for r in disk["routes"]] == ["tickets"]

    # The documented consumer filters.
    assert [r["value"]["alert"]["labels"]["alertname"] for r in tail(settings, "--priority", "P0")] == ["PostgresDown"]
    assert [r["value"]["alert"]["labels"]["alertname"] for r in tail(settings, "--receiver", "tickets")] == ["DiskFilling"]
    assert [r["value"]["alert"]["labels"]["alertname"] for r in tail(settings, "--label", "team=database",
                                                                         "--receiver", "pager")] == ["PostgresDown"]
    assert len(tail(settings, "--priority", "P2", "--priority", "P0", "--max", "1")) == 1
