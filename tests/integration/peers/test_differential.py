"""Alertmanager 0.25 and the pipeline side by side: the same configuration, the same alert and silence
timeline at the same moments, and their webhook deliveries compared with each other (receivers,
group keys, group labels, alert sets, statuses, times within 0.5 s). The timeline is Alertmanager's
acceptance scenarios plus routes with continue, so each side is also checked against the expected
batches: a disagreement then says which side is wrong."""

import threading
import time
from datetime import datetime, timezone

import httpx
import pytest
import yaml
from confluent_kafka import Producer

from pipeline import wire
from pipeline.runtime.producer import durable_config
from tests.integration.helpers import settings_with_topology
from tests.integration.peer_processes import running_alertmanager
from tests.integration.pipeline_harness import WebhookCollector, running_pipeline
from tests.integration.scenarios.acceptance import (
    TOLERANCE,
    WARMUP_PATH,
    all_scenarios,
    check,
    config_yaml,
    seen_from_webhook,
    silence_record,
)

LEAD_IN = 2.0


def comparable(delivery, base: float) -> tuple:
    body = delivery.body
    seen = seen_from_webhook(delivery.received, body, base)
    alerts = sorted((labels, annotations, a["status"]) for (labels, annotations, _s, _e), a
                    in zip(seen.alerts, body["alerts"], strict=True))
    return (body["receiver"], body["status"], body["groupKey"], tuple(sorted(body["groupLabels"].items())),
            tuple(alerts))


def compare(path: str, ours: list, theirs: list, base: float) -> list[str]:
    problems = []
    unmatched = list(theirs)
    for delivery in ours:
        want = comparable(delivery, base)
        match = next((d for d in unmatched if comparable(d, base) == want
                      and abs(d.received - delivery.received) <= TOLERANCE), None)
        if match is None:
            problems.append(f"{path}: pipeline sent at {delivery.received - base:.2f}s what Alertmanager did not "
                            f"(within {TOLERANCE}s): {want}")
        else:
            unmatched.remove(match)
    problems += [f"{path}: Alertmanager sent at {d.received - base:.2f}s what the pipeline did not: "
                 f"{comparable(d, base)}" for d in unmatched]
    return problems


class AlertmanagerSilences:
    """Silence changes through Alertmanager's own API (ids are Alertmanager's)."""

    def __init__(self, url: str):
        self.client = httpx.Client(base_url=url, timeout=10)
        self.ids: dict[str, str] = {}

    def apply(self, change, scenario, base: float) -> None:
        key = f"{scenario.name}-{change.name}"
        if change.delete:
            response = self.client.delete(f"/api/v2/silence/{self.ids[key]}")
            assert response.status_code == 200, response.text
            return
        record = silence_record(change, scenario, base, datetime.now(timezone.utc))
        body = {"matchers": [{"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": True}
                             for m in record.matchers],
                "startsAt": record.starts_at.isoformat(), "endsAt": record.ends_at.isoformat(),
                "createdBy": record.created_by, "comment": record.comment}
        response = self.client.post("/api/v2/silences", json=body)
        assert response.status_code == 200, response.text
        self.ids[key] = response.json()["silenceID"]


# Wall-clock windows of 0.5 s on a shared 2-core machine: reruns absorb a scheduling hiccup; a real
# mismatch fails every run (the report lists every missed window). Two, because Alertmanager itself
# missed its own windows (first notification ~1 s late) in the run and the rerun of one `make test`
# on 2026-12-04: a comparison with a peer off its schedule proves nothing either way.
@pytest.mark.flaky(reruns=2, only_rerun=["AssertionError"])
def test_pipeline_matches_alertmanager_side_by_side(kafka_bootstrap, tmp_path):
    scenarios = all_scenarios()
    collector = WebhookCollector().start()
    settings = settings_with_topology(kafka_bootstrap, "diff")
    am_config = yaml.safe_load(config_yaml(scenarios, collector.url + "/am"))
    try:
        with running_alertmanager(tmp_path / "am", am_config) as am, \
                running_pipeline(settings, tmp_path / "pipeline", config_yaml(scenarios, collector.url + "/pipeline"),
                                 sink=True) as pipeline:
            warmup = [{"labels": {"alertname": "Warmup", "scenario": "warmup"}}]
            pipeline.post_alerts(warmup)
            assert httpx.post(f"{am.url}/api/v2/alerts", json=warmup, timeout=10).status_code == 200
            deadline = time.time() + 60
            while not (collector.at("/pipeline" + WARMUP_PATH) and collector.at("/am" + WARMUP_PATH)):
                assert time.time() < deadline, "the warm-up alert was not delivered\n" + pipeline.logs()
                time.sleep(0.1)
            base = time.time() + LEAD_IN
            late = run_both(pipeline, am.url, scenarios, base)
            time.sleep(max(0.0, base + max(s.end() for s in scenarios) + 1.5 - time.time()))
            pipeline.check_alive()
            logs = pipeline.logs() + "\n" + am.log()
    finally:
        collector.stop()

    assert not late, "the timeline could not be kept (machine overloaded?):\n" + "\n".join(late)
    problems = []
    for s in scenarios:
        last = base + s.end() + TOLERANCE
        for hook in s.wants:
            am_seen = [d for d in collector.at("/am" + s.path(hook)) if d.received <= last]
            ours = [d for d in collector.at("/pipeline" + s.path(hook)) if d.received <= last]
            expected_am = check(s, hook, [seen_from_webhook(d.received, d.body, base) for d in am_seen])
            assert not expected_am, "Alertmanager itself missed the expected batches (machine too slow?):\n" + \
                "\n".join(expected_am) + "\nwhat it sent on that path (s after base, alerts):\n" + "\n".join(
                    f"  {d.received - base:.3f} {[a['labels'].get('alertname') for a in d.body.get('alerts', [])]}"
                    for d in collector.at("/am" + s.path(hook)))
            problems += compare(s.path(hook), ours, am_seen, base)
    assert not problems, "\n".join(problems) + "\n" + logs


def run_both(pipeline, am_url: str, scenarios, base: float) -> list[str]:
    """Each push and silence change at its time, to both, each in its own thread."""
    producer = Producer(durable_config(pipeline.settings.kafka, 10))
    am_silences = AlertmanagerSilences(am_url)
    clients = {"pipeline": httpx.Client(base_url=pipeline.url, timeout=10),
               "am": httpx.Client(base_url=am_url, timeout=10)}
    late: list[str] = []

    def act(at, kind, scenario, what, side):
        delay = base + at - time.time()
        if delay > 0:
            time.sleep(delay)
        if kind == "push":
            body = [a.in_scenario(scenario.name).payload(base) for a in what]
            response = clients[side].post("/api/v2/alerts", json=body)
            assert response.status_code == 200, response.text
        elif side == "am":
            am_silences.apply(what, scenario, base)
        else:
            silence = silence_record(what, scenario, base, datetime.now(timezone.utc))
            producer.produce(pipeline.settings.topic("silences"), key=silence.id.encode(), value=wire.encode(silence))
            producer.flush(10)
        took = time.time() - (base + at)
        if took > 0.2:
            late.append(f"{side} {scenario.name}: {kind} at {at} done {took:.2f}s late")

    actions = []
    for s in scenarios:
        actions += [(at, "push", s, alerts) for at, alerts in s.pushes]
        actions += [(c.at, "silence", s, c) for c in s.silences]
    threads = [threading.Thread(target=act, args=(*a, side)) for a in actions for side in ("am", "pipeline")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return late
