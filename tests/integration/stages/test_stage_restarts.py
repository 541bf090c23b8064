"""Restarting stage workers mid-stream (SIGTERM, and kill -9 of dedup) loses nothing: every alert posted
before, during and after the restarts reaches alerts.enriched, and its table state survives."""

import os
import signal
import time

import pytest

from pipeline.settings import WorkerSettings
from pipeline.runtime.reader import read_topic
from tests.integration.helpers import settings_with_topology, wait_for_records
from tests.integration.pipeline_harness import TOPOLOGIES, running_pipeline

# Per topology: the workers restarted gracefully, and the one killed (it holds dedup's table).
RESTARTS = {"chained": (("normalize", "group"), "normalize"),
            "split": (("normalize", "classify", "route"), "dedup")}


CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:9/team"}]
"""


def alerts(batch: int, n: int = 5) -> list[dict]:
    return [{"labels": {"alertname": f"Restart{batch}", "instance": str(i)}} for i in range(n)]


def enriched_names(settings) -> set[tuple[str, str]]:
    return {(r.value.alert.labels["alertname"], r.value.alert.labels["instance"])
            for r in read_topic(settings, "alerts.enriched")}


@pytest.mark.parametrize("layout", TOPOLOGIES)
def test_restarted_workers_lose_nothing(kafka_bootstrap, tmp_path, layout):
    settings = settings_with_topology(kafka_bootstrap, "restart", TOPOLOGIES[layout])
    graceful, killed = RESTARTS[layout]
    worker = WorkerSettings(data_dir=tmp_path / "state", instance_id="restart-test")
    with running_pipeline(settings, tmp_path, CONFIG, worker=worker) as pipeline:
        pipeline.post_alerts(alerts(0))
        wait_for_records(settings, "alerts.enriched", lambda rs: len(rs) >= 5, timeout=60, describe=pipeline.logs)
        for name in graceful:   # graceful restarts
            pipeline.workers[name].stop()
            pipeline.restart(name)
        pipeline.post_alerts(alerts(1))
        os.kill(pipeline.workers[killed].process.pid(), signal.SIGKILL)       # and a crash
        pipeline.post_alerts(alerts(2))
        pipeline.restart(killed)
        pipeline.post_alerts(alerts(3))
        wanted = {(f"Restart{b}", str(i)) for b in range(4) for i in range(5)}
        deadline = time.time() + 120
        while not wanted <= enriched_names(pipeline.settings):
            assert time.time() < deadline, (sorted(wanted - enriched_names(pipeline.settings)), pipeline.logs())
            pipeline.check_alive()
            time.sleep(0.5)
        # dedup's table came back from its changelog: a re-sent alert is a refresh (nothing forwarded),
        # not "new".
        pipeline.post_alerts(alerts(0, 1))
        time.sleep(3)
        changes = [(r.value.alert.labels["alertname"], r.value.change) for r in read_topic(settings, "alerts.enriched")
                   if r.value.alert.labels["alertname"] == "Restart0"]
        pipeline.check_alive()
    assert changes.count(("Restart0", "new")) == 5, changes
