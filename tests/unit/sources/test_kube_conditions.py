"""Kubernetes object states → conditions (pure), on objects shaped as in the API reference (the test fake's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.sources.kube_conditions import event_condition, node_conditions, pod_conditions
from pipeline.sources.model import KubernetesConfig
from tests.integration.sources import kube_fake as k

CONFIG = KubernetesConfig.model_validate({"cluster": "c1", "auth": {"type": "in_cluster"}, "pending_after": "5m",
                                          "node_not_ready_after": "2m", "oom_window": "15m"})


def now() -> datetime:
    return datetime.now(UTC)


def names(conditions) -> list[str]:
    return sorted(c.labels["alertname"] for c in conditions.values())


def test_a_healthy_pod_holds_nothing():
    assert pod_conditions(k.pod("p", "ns", uid="u", containers=[k.container_status("c", running=True)]), now(),
                          CONFIG) == ({}, None)


def test_crash_loop_needs_the_restart_count_and_keeps_its_first_seen_start():
    looping = k.pod("p", "ns", uid="u", containers=[k.container_status("c", waiting=("CrashLoopBackOff", "m"),
                                                                       restarts=2)])
    found, _ = pod_conditions(looping, now(), CONFIG)
    (key, condition), = found.items()
    assert condition.labels == {"alertname": "KubePodCrashLooping", "cluster": "c1", "severity": "warning",
                                "namespace": "ns", "pod": "p", "container": "c", "node": "node-1"}
    earlier = now() - timedelta(minutes=7)
    again, _ = pod_conditions(looping, now(), CONFIG, first_seen={key: earlier})
    assert again[key].starts_at == earlier and again[key].ends_at is None
    strict = CONFIG.model_copy(update={"crash_loop_restarts": 3})
    assert pod_conditions(looping, now(), strict)[0] == {}


def test_oom_kill_fires_for_its_window_from_the_kill():
    finished = now() - timedelta(minutes=1)
    killed = k.pod("p", "ns", uid="u", containers=[k.container_status("c", running=True, restarts=1, last_terminated={
        "exitCode": 137, "reason": "OOMKilled", "finishedAt": k.rfc3339(finished)})])
    found, _ = pod_conditions(killed, now(), CONFIG)
    (condition,) = found.values()
    assert condition.labels["alertname"] == "KubeContainerOOMKilled"
    assert condition.ends_at - condition.starts_at == timedelta(minutes=15)
    assert pod_conditions(killed, finished + timedelta(minutes=16), CONFIG)[0] == {}


def test_image_pull_and_pending_with_their_due_time():
    pulling = k.pod("p", "ns", uid="u", containers=[k.container_status("c", waiting=("ErrImagePull", "no such image"))])
    assert names(pod_conditions(pulling, now(), CONFIG)[0]) == ["KubePodImagePullFailing"]
    created = now() - timedelta(minutes=1)
    pending = k.pod("q", "ns", uid="v", phase="Pending", node=None, created=k.rfc3339(created),
                    scheduled=("False", "Unschedulable", "0/3 nodes"))
    found, due = pod_conditions(pending, now(), CONFIG)
    assert found == {} and abs((due - (created + timedelta(minutes=5))).total_seconds()) < 1
    found, due = pod_conditions(pending, created + timedelta(minutes=6), CONFIG)
    (condition,) = found.values()
    assert due is None and "node" not in condition.labels and condition.annotations["reason"] == "Unschedulable"


def test_node_not_ready_after_the_threshold():
    since = now() - timedelta(minutes=1)
    down = k.node("n", uid="n1", ready="Unknown", since=k.rfc3339(since), reason="NodeStatusUnknown")
    found, due = node_conditions(down, now(), CONFIG)
    assert found == {} and due is not None
    found, _ = node_conditions(down, since + timedelta(minutes=3), CONFIG)
    (condition,) = found.values()
    assert condition.labels == {"alertname": "KubeNodeNotReady", "cluster": "c1", "severity": "critical", "node": "n"}
    assert node_conditions(k.node("n", uid="n1"), now(), CONFIG) == ({}, None)


def test_warning_events_are_filtered_and_end_after_their_window():
    mount = k.event("e", "ns", uid="e1", reason="FailedMount", message="m", object_name="p", count=3)
    condition = event_condition(mount, now(), CONFIG)
    assert condition.labels == {"alertname": "KubeWarningEvent", "cluster": "c1", "severity": "warning",
                                "namespace": "ns", "reason": "FailedMount", "kind": "Pod", "object": "p", "pod": "p"}
    assert condition.annotations["count"] == "3" and condition.ends_at is not None
    assert event_condition(k.event("e", "ns", uid="e2", reason="BackOff", message="m"), now(), CONFIG) is None
    assert event_condition(k.event("e", "ns", uid="e3", reason="Pulled", message="m", type_="Normal"), now(),
                           CONFIG) is None
    old = k.event("e", "ns", uid="e4", reason="FailedMount", message="m", last=k.ago(hours=1))
    assert event_condition(old, now(), CONFIG) is None


def test_objects_with_missing_or_wrongly_typed_fields_hold_nothing_and_do_not_crash():
    for broken in ({}, {"metadata": "x"}, {"status": {"containerStatuses": "nope"}},
                   {"status": {"containerStatuses": [{"state": {"waiting": "x"}}, 5]}}, {"status": {"phase": 3}}):
        assert pod_conditions(broken, now(), CONFIG)[0] == {}
    assert node_conditions({"status": {"conditions": [{"type": "Ready"}]}}, now(), CONFIG)[1] is not None
    assert event_condition({"type": "Warning", "involvedObject": "x"}, now(), CONFIG) is not None
