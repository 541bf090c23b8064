"""Run by tests/unit/test_regex_linear_time.py in a child process: ``(a+)+b`` against a 4 KiB value in
every place a user's regex runs. Prints one JSON line per place as soon as it is done —
``{"place": ..., "cpu_s": ..., "verdict": ...}`` — so a place that hangs (a backtracking engine) is
named by the parent, which kills this process after its timeout."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone

EVIL = "(a+)+b"
VALUE = "a" * 4096  # no "b": a backtracking engine tries every way to split the a's (2^4096)
UTC = timezone.utc


def report(place: str, run) -> None:
    started = time.process_time()
    verdict = run()
    print(json.dumps({"place": place, "cpu_s": time.process_time() - started, "verdict": verdict}), flush=True)


def api_filter():
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from pipeline.amconfig import parse_config
    from pipeline.api.handlers import AlertmanagerApi
    from pipeline.api.view import ApiView
    from pipeline.models import Alert, EnrichedAlert

    config = "route: {receiver: x}\nreceivers: [{name: x}]\n"
    view = ApiView(parse_config(config))
    view.ready.set()
    now = datetime.now(UTC)
    alert = Alert.with_fingerprint(labels={"alertname": "A", "instance": VALUE}, starts_at=now - timedelta(minutes=1),
                                   ends_at=now + timedelta(minutes=5), status="firing", updated_at=now)
    view.apply_alert(None, EnrichedAlert(alert=alert, source="t", source_format="direct", received_at=now))
    client = TestClient(Starlette(routes=AlertmanagerApi(view, None, "silences", config_text=config).routes()))
    client.get("/api/v2/alerts")  # warm up the app outside the measurement

    def run():
        answer = client.get("/api/v2/alerts", params={"filter": f'instance=~"{EVIL}"'})
        assert answer.status_code == 200, answer.text
        return len(answer.json())

    report("api filter", run)


def silences():
    from pipeline.models import Matcher as MatcherModel
    from pipeline.models import Silence
    from pipeline.muting.silences import Silencer

    now = datetime.now(UTC)
    silence = Silence(id="s1", matchers=[MatcherModel(name="instance", value=EVIL, is_regex=True, is_equal=True)],
                      starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1), updated_at=now,
                      created_by="t", comment="t")
    silencer = Silencer([silence])
    report("silences", lambda: silencer.silenced_by({"alertname": "A", "instance": VALUE}, now))


def inhibition():
    from pipeline.muting.inhibition import Inhibitor, InhibitRule

    now = datetime.now(UTC)
    rule = InhibitRule.from_config({"source_matchers": [f'instance=~"{EVIL}"'], "target_matchers": ['x="y"']})
    inhibitor = Inhibitor([rule])
    report("inhibition", lambda: inhibitor.observe_fields("f1", {"instance": VALUE}, now + timedelta(hours=1)))


def routing():
    from pipeline.amconfig import parse_config
    from pipeline.routing import routes_test

    config = parse_config("route:\n  receiver: x\n  routes:\n  - receiver: y\n    matchers: ['instance=~\"" + EVIL
                          + "\"']\n  - receiver: z\n    match_re: {instance: '" + EVIL + "'}\nreceivers: [{name: x}, {name: y}, {name: z}]\n")
    report("routing", lambda: routes_test(config, {"instance": VALUE}))


def classification_file():
    from pipeline.classification.config import parse_classification_file

    return parse_classification_file(f"""
relabel:
  - {{action: replace, source_labels: [instance], regex: '{EVIL}', target: host, replacement: '$1'}}
  - {{action: drop_label, regex: '{EVIL}'}}
classification:
  rules:
    - {{name: evil, match: ['instance=~"{EVIL}"'], priority: P0}}
workflows:
  - name: evil
    trigger: {{alertname: '{EVIL}', namespace: '{EVIL}', labels: ['instance=~"{EVIL}"']}}
    actions: [{{type: annotations, annotations: {{a: b}}}}]
""")


def relabel():
    from pipeline.classification.relabel import relabel as run_relabel

    rules = classification_file().relabel
    report("relabel", lambda: sorted(name[:8] for name in run_relabel({"instance": VALUE, VALUE: "x"}, rules)))


def classification():
    from pipeline.classification.rules import classify_by_rules

    config = classification_file().classification
    report("classification", lambda: classify_by_rules({"instance": VALUE}, config).classification.priority)


def enrichment_trigger():
    trigger = classification_file().workflows[0].trigger
    report("enrichment trigger", lambda: trigger.matches({"alertname": VALUE, "namespace": VALUE,
                                                          "instance": VALUE}, "P3"))


PLACES = [api_filter, silences, inhibition, routing, relabel, classification, enrichment_trigger]

if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    for place in PLACES:
        if not wanted or place.__name__ in wanted:
            place()
