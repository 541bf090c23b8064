"""Latency correctness (issue 12, point 7) on the real broker, against the default chaining and every
stage split: the alerts of one POST that fall into one group are in that group's first notification —
although they reach the group stage through different partitions (the event-time watermark,
pipeline.runtime.event_time). The first alert's delivery time after the start is printed, not asserted:
speed is the benchmark's (bench/e2e)."""

import time

import pytest

from tests.integration.helpers import settings_with_topology
from tests.integration.pipeline_harness import TOPOLOGIES, WebhookCollector, running_pipeline

ROUNDS = 6

CONFIG = """
route:
  receiver: all
  group_by: [alertname]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: db
      group_by: [team, round]
      continue: true
receivers:
  - name: all
    webhook_configs: [{url: "URL/all"}]
  - name: db
    webhook_configs: [{url: "URL/db"}]
"""


def wait_until(condition, pipeline, what: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"{what}\n{pipeline.logs()}"
        pipeline.check_alive()
        time.sleep(0.02)


@pytest.mark.parametrize("layout", TOPOLOGIES)
def test_first_alert_in_time_and_one_post_in_one_notification(kafka_bootstrap, tmp_path, layout):
    collector = WebhookCollector().start()
    settings = settings_with_topology(kafka_bootstrap, f"evtime-{layout}", TOPOLOGIES[layout])
    try:
        with running_pipeline(settings, tmp_path, CONFIG.replace("URL", collector.url), sink=True) as pipeline:
            posted = time.time()
            pipeline.post_alerts([{"labels": {"alertname": "First", "team": "web"}}])
            wait_until(lambda: collector.at("/all"), pipeline, "the first alert was not delivered")
            first_latency = collector.at("/all")[0].received - posted

            # Per round one POST of four alerts: two of team db (one group of the db route) and two of
            # team web, each in its own alertname group at the root. The db route continues, but no
            # sibling matches, and a parent's receiver is used only when no child matched: db alerts
            # reach /db only.
            for r in range(ROUNDS):
                pipeline.post_alerts([
                    {"labels": {"alertname": f"DbDown{r}", "team": "db", "round": str(r)}},
                    {"labels": {"alertname": f"DbSlow{r}", "team": "db", "round": str(r)}},
                    {"labels": {"alertname": f"WebDown{r}", "team": "web", "round": str(r)}},
                    {"labels": {"alertname": f"WebSlow{r}", "team": "web", "round": str(r)}},
                ])
                time.sleep(0.3)
            wait_until(lambda: len(collector.at("/db")) >= ROUNDS and len(collector.at("/all")) >= 1 + 2 * ROUNDS,
                       pipeline, f"not every group was notified: db {[len(d.body['alerts']) for d in collector.at('/db')]}, all {len(collector.at('/all'))}")
            time.sleep(1.0)  # a split group's second notification would only come a group_interval later anyway
    finally:
        collector.stop()

    print(f"\n{layout}: the first alert after the start delivered {first_latency * 1000:.0f} ms after its POST")
    db = [sorted(a["labels"]["alertname"] for a in d.body["alerts"]) for d in collector.at("/db")]
    assert sorted(db) == [[f"DbDown{r}", f"DbSlow{r}"] for r in range(ROUNDS)], db
    web = sorted(a["labels"]["alertname"] for d in collector.at("/all")[1:] for a in d.body["alerts"])
    assert web == sorted(f"Web{kind}{r}" for r in range(ROUNDS) for kind in ("Down", "Slow")), web
    assert all(len(d.body["alerts"]) == 1 for d in collector.at("/all"))
