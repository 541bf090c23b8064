"""Enrichment: templates, triggers, and the engine with a mocked HTTP service and real scripts."""

import asyncio
import os
import sys
import time
from datetime import datetime, timezone

import httpx
import pytest

from pipeline.classification.config import ClassificationFileError, parse_classification_file
from pipeline.enrichment.engine import Enricher
from pipeline.enrichment.templates import RenderError, Template
from pipeline.models import Alert, Classification, EnrichedAlert

NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def alert(priority="P1", **labels) -> EnrichedAlert:
    labels = {"alertname": "PostgresDown", **labels}
    return EnrichedAlert(
        alert=Alert.with_fingerprint(labels=labels, annotations={"summary": "db down"}, starts_at=NOW,
                                     status="firing", updated_at=NOW),
        source="t", source_format="direct", received_at=NOW,
        classification=Classification(priority=priority, classified_by="rules"))


def test_templates_substitute_filter_and_default():
    context = {"labels": {"trace_id": "a b/c", "env": "prod"}, "classification": {"priority": "P1"}}
    assert Template("https://j/trace/{{ labels.trace_id | urlencode }}").render(context) == "https://j/trace/a%20b%2Fc"
    assert Template("{{labels.env|upper}}-{{ classification.priority | lower }}").render(context) == "PROD-p1"
    assert Template('{{ labels.zone | default("none") }}').render(context) == "none"
    assert Template("no placeholders").render({}) == "no placeholders"


def test_a_missing_value_is_a_render_error_naming_it():
    with pytest.raises(RenderError, match="labels.trace_id is missing"):
        Template("{{ labels.trace_id }}").render({"labels": {"trace_id": ""}})


@pytest.mark.parametrize("source, fragment", [
    ("{{ secrets.x }}", "unknown value"), ("{{ labels.a | shell }}", "unknown filter"),
    ("{{ labels.a", "unbalanced"), ("{{ labels.a.b }}", "unknown value"), ("{{ __class__ }}", "unknown value"),
])
def test_bad_templates_are_refused_when_loaded(source, fragment):
    with pytest.raises(ValueError, match=fragment):
        Template(source)


def workflows(text: str):
    return parse_classification_file(text, "wf.yaml").workflows


def test_triggers_and_together_alertname_labels_priority_and_namespace():
    wf = workflows("""workflows:
  - name: w
    trigger: {alertname: 'Postgres.*', labels: ['env="prod"'], priority: [P0, P1], namespace: 'db|data'}
    actions: [{type: annotations, annotations: {a: b}}]
""")[0]
    labels = {"alertname": "PostgresDown", "env": "prod", "namespace": "db"}
    assert wf.trigger.matches(labels, "P1")
    assert not wf.trigger.matches(labels, "P2")
    assert not wf.trigger.matches({**labels, "env": "dev"}, "P1")
    assert not wf.trigger.matches({**labels, "namespace": "dbx"}, "P1")  # anchored
    assert not wf.trigger.matches({**labels, "alertname": "MySQLDown"}, "P1")


def enricher(text, handler=None):
    transport = httpx.MockTransport(handler) if handler else None
    return Enricher(workflows(text), transport=transport)


def run(coro):
    return asyncio.run(coro)


def test_static_annotations_and_links_from_templates():
    e = enricher("""workflows:
  - name: links
    trigger: {alertname: 'Postgres.*'}
    actions:
      - {type: annotations, annotations: {runbook_url: 'https://runbooks.example/{{ labels.alertname }}', summary: x}}
      - {type: link, title: 'Grafana {{ labels.alertname }}', url: 'https://grafana.example/d/db?var-host={{ labels.host | urlencode }}'}
      - {type: link, title: Trace, url: 'https://jaeger.example/trace/{{ labels.trace_id }}', if: ['trace_id!=""']}
  - name: never
    trigger: {alertname: 'Other'}
    actions: [{type: annotations, annotations: {never: x}}]
""")
    out = run(e.enrich(alert(host="db-1:5432", trace_id="abc123")))
    assert out.alert.annotations == {"summary": "db down", "runbook_url": "https://runbooks.example/PostgresDown"}
    assert [(l.title, l.url) for l in out.links] == [
        ("Grafana PostgresDown", "https://grafana.example/d/db?var-host=db-1%3A5432"),
        ("Trace", "https://jaeger.example/trace/abc123")]
    assert out.enrichment_errors == []
    without_trace = run(e.enrich(alert(host="h")))
    assert [l.title for l in without_trace.links] == ["Grafana PostgresDown"]


def test_a_failing_action_adds_an_error_and_the_others_still_run():
    e = enricher("""workflows:
  - name: w
    actions:
      - {type: link, title: Grafana, url: 'https://grafana.example/{{ labels.host }}'}
      - {type: link, title: Bad, url: 'javascript:alert(1)'}
      - {type: annotations, annotations: {after: ok}}
""")
    out = run(e.enrich(alert()))
    assert out.alert.annotations["after"] == "ok"
    assert out.links == []
    assert out.enrichment_errors == [
        "w/0 link: template 'https://grafana.example/{{ labels.host }}': labels.host is missing "
        "(add | default(\"…\") or an `if` to the action)",
        "w/1 link: not an http(s) URL: 'javascript:alert(1)'"]


def test_http_lookup_merges_the_answer_and_is_cached():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, str(request.url), request.headers.get("x-token"), request.content))
        return httpx.Response(200, json={"owner": {"name": "dba"}, "tier": 1})

    e = enricher("""workflows:
  - name: cmdb
    actions:
      - {type: http, method: POST, url: 'https://cmdb.example/lookup', headers: {x-token: 't'},
         body: {host: '{{ labels.host }}'}, result: {owner: owner.name, tier: tier, absent: nope}}
""", handler)
    first = run(_twice(e, alert(host="db-1")))
    assert first.alert.annotations["owner"] == "dba" and first.alert.annotations["tier"] == "1"
    assert "absent" not in first.alert.annotations
    assert calls == [("POST", "https://cmdb.example/lookup", "t", b'{"host":"db-1"}')]


async def _twice(e, a):
    await e.enrich(a)
    return await e.enrich(a)


def test_http_errors_and_slow_answers_become_enrichment_errors_without_the_query_string():
    async def slow(request):
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    def failing(request):
        return httpx.Response(503)

    text = """workflows:
  - name: w
    actions: [{type: http, url: 'https://svc.example/x?token=secret', timeout_s: 0.2}]
"""
    out = run(enricher(text, failing).enrich(alert()))
    assert out.enrichment_errors == ["w/0 http: GET https://svc.example/x: HTTP 503"]
    started = asyncio.run(_timed(enricher(text, slow), alert()))
    assert started[0].enrichment_errors == ["w/0 http: no result within 0.2s"]
    assert started[1] < 1.0


async def _timed(e, a):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    out = await e.enrich(a)
    return out, loop.time() - t0


SCRIPT = """
import json, os, sys
alert = json.load(sys.stdin)
json.dump({"annotations": {"host_owner": "team-" + alert["alert"]["labels"]["alertname"],
                           "secret": os.environ.get("ENRICH_SECRET", "absent"),
                           "home": os.environ.get("HOME", "absent")},
           "links": [{"title": "CMDB", "url": "https://cmdb.example/" + alert["alert"]["fingerprint"]}]}, sys.stdout)
"""


def test_script_action_reads_the_alert_on_stdin_and_gets_only_allowed_variables(tmp_path, monkeypatch):
    script = tmp_path / "enrich.py"
    script.write_text(SCRIPT)
    monkeypatch.setenv("ENRICH_SECRET", "s3")
    monkeypatch.setenv("HOME", "/root")
    e = enricher(f"""workflows:
  - name: s
    actions: [{{type: script, command: ['{sys.executable}', '{script}'], env: [ENRICH_SECRET]}}]
""")
    a = alert()
    out = run(e.enrich(a))
    assert out.enrichment_errors == []
    assert out.alert.annotations["host_owner"] == "team-PostgresDown"
    assert out.alert.annotations["secret"] == "s3" and out.alert.annotations["home"] == "absent"
    assert [(l.title, l.url) for l in out.links] == [("CMDB", f"https://cmdb.example/{a.alert.fingerprint}")]


@pytest.mark.parametrize("body, fragment", [
    ("import time; time.sleep(10)", "no result within 0.5s"),
    ("import sys; sys.stderr.write('boom'); sys.exit(3)", "exited with 3: boom"),
    ("print('not json')", "did not write JSON"),
    ("print('{\"annotations\": {\"a\": 1}}')", "expected"),
])
def test_failing_or_slow_scripts_become_enrichment_errors(tmp_path, body, fragment):
    script = tmp_path / "s.py"
    script.write_text(body)
    e = enricher(f"""workflows:
  - name: s
    actions: [{{type: script, command: ['{sys.executable}', '{script}'], timeout_s: 0.5}}]
""")
    out, seconds = asyncio.run(_timed(e, alert()))
    assert len(out.enrichment_errors) == 1 and fragment in out.enrichment_errors[0], out.enrichment_errors
    assert seconds < 3


def test_a_missing_script_is_an_error_not_a_crash():
    e = enricher("""workflows:
  - name: s
    actions: [{type: script, command: [/nonexistent/enrich]}]
""")
    assert "cannot start /nonexistent/enrich" in run(e.enrich(alert())).enrichment_errors[0]


@pytest.mark.parametrize("text, fragment", [
    ("workflows: [{name: w, actions: []}]", "workflows.0.actions"),
    ("workflows: [{name: w, actions: [{type: shell, cmd: x}]}]", "workflows.0.actions.0"),
    ("workflows: [{name: w, trigger: {alertname: '('}, actions: [{type: annotations, annotations: {a: b}}]}]",
     "invalid regex"),
    ("workflows: [{name: w, actions: [{type: link, title: t, url: '{{ nope }}'}]}]", "unknown value"),
    ("workflows: [{name: w, actions: [{type: http, url: 'http://x', result: {a: '[['}}]}]", "invalid JMESPath"),
    ("workflows: [{name: w, actions: [{type: http, url: 'http://x', body: {a: b}}]}]", "use method: POST"),
    ("workflows: [{name: w, actions: [{type: script, command: [x], env: ['A-B']}]}]", "env"),
])
def test_invalid_workflows_are_refused_at_start_up(text, fragment):
    with pytest.raises(ClassificationFileError) as caught:
        parse_classification_file(text, "wf.yaml")
    assert fragment in str(caught.value)


def test_a_timed_out_script_is_killed_with_everything_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "spawn.py"
    script.write_text(f"""
import subprocess, time
child = subprocess.Popen(["sleep", "30"])
open({str(pid_file)!r}, "w").write(str(child.pid))
time.sleep(30)
""")
    e = enricher(f"""workflows:
  - name: s
    actions: [{{type: script, command: ['{sys.executable}', '{script}'], timeout_s: 1}}]
""")
    out, seconds = asyncio.run(_timed(e, alert()))
    assert out.enrichment_errors == ["s/0 script: no result within 1s"]
    assert seconds < 5  # a surviving child holding the pipes would keep the action waiting
    child = int(pid_file.read_text())
    for _ in range(50):  # reaped by init shortly after the kill
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if _zombie(child):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"child {child} of the script is still running")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
