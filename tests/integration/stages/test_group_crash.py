"""kill -9 of the grouping worker while a group waits out group_wait: after the restart exactly one
notification is sent, on time within group_interval (Alertmanager loses it: issues #2370, #889)."""

import os
import signal
import time

import pytest

from pipeline.settings import WorkerSettings
from pipeline.topology import load_topology
from pipeline.topology.model import changelog_topic_name
from pipeline.runtime.reader import read_topic
from tests.integration.helpers import settings_with_topology, wait_for_records
from tests.integration.pipeline_harness import TOPOLOGIES, running_pipeline

GROUP_WAIT = 6
GROUP_INTERVAL = 20

CONFIG = f"""
route:
  receiver: pager
  group_by: [alertname]
  group_wait: {GROUP_WAIT}s
  group_interval: {GROUP_INTERVAL}s
  repeat_interval: 1h
receivers:
  - name: pager
    webhook_configs: [{{url: "http://127.0.0.1:9/pager"}}]
"""


@pytest.mark.parametrize("topology_file", TOPOLOGIES.values(), ids=TOPOLOGIES.keys())
def test_kill_9_between_group_wait_start_and_flush(kafka_bootstrap, tmp_path, topology_file):
    settings = settings_with_topology(kafka_bootstrap, "crash", topology_file)
    topology = load_topology(settings.topics.topology_file)
    groups_changelog = changelog_topic_name(topology.stages["group"], "group_headers")
    # Static membership: the restarted worker takes its partitions back without waiting out the
    # dead member's session.
    worker = WorkerSettings(data_dir=tmp_path / "state", instance_id="crash-test")
    with running_pipeline(settings, tmp_path, CONFIG, worker=worker) as pipeline:
        for name, worker in pipeline.workers.items():
            assert worker.alive(), name
        group = pipeline.workers["group"]
        posted = time.time()
        pipeline.post_alerts([{"labels": {"alertname": "DiskFull", "instance": "a"}}])
        # The group exists durably (its changelog has it) before the worker dies.
        wait_for_records(settings, groups_changelog, lambda rs: len(rs) >= 1, timeout=30,
                         alive=group.alive, describe=pipeline.logs)
        assert time.time() - posted < GROUP_WAIT, "too slow to kill inside group_wait"
        os.kill(group.process.pid(), signal.SIGKILL)
        killed = time.time()
        assert not list(read_topic(pipeline.settings, "notifications")), "flushed before the kill"
        pipeline.restart("group")
        records = wait_for_records(settings, "notifications", lambda rs: len(rs) >= 1, timeout=90,
                                   alive=pipeline.workers["group"].alive, describe=pipeline.logs)
        first_at = time.time()
        time.sleep(3)  # a duplicate from a replayed flush would follow at once
        records = list(read_topic(pipeline.settings, "notifications"))
        pipeline.check_alive()

    assert len(records) == 1, [r.value.id for r in records]
    notification = records[0].value
    assert [a.labels["alertname"] for a in notification.alerts] == ["DiskFull"]
    due = posted + GROUP_WAIT
    lateness = first_at - due
    print(f"killed {killed - posted:.1f}s after the post; notified {lateness:+.1f}s from the group_wait deadline")
    assert lateness <= GROUP_INTERVAL, f"notified {lateness:.1f}s late"
    assert notification.created_at.timestamp() >= due - 0.5
