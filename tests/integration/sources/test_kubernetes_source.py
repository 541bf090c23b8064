"""The Kubernetes source against an HTTP fake of the API server (tests/integration/sources/kube_fake.py:
hand-made objects in the API reference's shapes; no cluster runs here), as `pipeline sources run` with a
kubeconfig and a bearer token.

One timeline: the first list holds a crash loop, an OOM kill, an image pull failure, a pod pending
past the threshold, a NotReady node and a warning event; watch events clear some of them (resolved at
once); a pod becomes pending-too-long on the resync timer; the watches expire (410 Gone) while a pod
is deleted unseen, and the relist resolves its alert.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import yaml

from tests.integration.helpers import wait_for_records
from tests.integration.sources import kube_fake as k
from tests.integration.sources.conftest import running_sources

TOKEN = "fake-apiserver-token"


def alerts_named(records, alertname: str, **labels: str):
    return [r.value for r in records if r.value.labels.get("alertname") == alertname
            and all(r.value.labels.get(name) == value for name, value in labels.items())]


def resolved(records, alertname: str, **labels: str) -> bool:
    return any(a.status == "resolved" for a in alerts_named(records, alertname, **labels))


def initial_cluster(api: k.FakeApiServer) -> None:
    api.put("pods", k.pod("web-1", "shop", uid="u-web-1", containers=[k.container_status(
        "app", waiting=("CrashLoopBackOff", "back-off 5m0s restarting failed container=app"), restarts=7)]))
    api.put("pods", k.pod("cache-1", "shop", uid="u-cache-1", containers=[k.container_status(
        "redis", running=True, restarts=1, last_terminated={
            "exitCode": 137, "reason": "OOMKilled", "startedAt": k.ago(minutes=3), "finishedAt": k.ago(minutes=1)})]))
    api.put("pods", k.pod("api-1", "shop", uid="u-api-1", containers=[k.container_status(
        "api", waiting=("ImagePullBackOff", 'Back-off pulling image "registry.example/api:9.9"'),
        image="registry.example/api:9.9")]))
    api.put("pods", k.pod("batch-1", "jobs", uid="u-batch-1", phase="Pending", node=None, created=k.ago(minutes=20),
                          scheduled=("False", "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.")))
    api.put("pods", k.pod("fine-1", "shop", uid="u-fine-1", containers=[k.container_status("app", running=True)]))
    api.put("nodes", k.node("node-2", uid="n-2", ready="False", since=k.ago(minutes=10), reason="KubeletNotReady",
                            message="container runtime network not ready"))
    api.put("nodes", k.node("node-1", uid="n-1"))
    api.put("events", k.event("web-1.17a", "shop", uid="e-1", reason="FailedMount", kind="Pod", object_name="web-1",
                              message='MountVolume.SetUp failed for volume "config": configmap "web" not found',
                              count=4))
    api.put("events", k.event("web-1.17b", "shop", uid="e-2", reason="Scheduled", kind="Pod", object_name="web-1",
                              message="assigned", type_="Normal"))
    api.put("events", k.event("web-1.17c", "shop", uid="e-3", reason="BackOff", kind="Pod", object_name="web-1",
                              message="Back-off restarting failed container"))  # excluded by default


def test_kubernetes_conditions_fire_resolve_and_survive_a_410(settings, applied_topology, tmp_path):
    api = k.FakeApiServer(TOKEN)
    kubeconfig = tmp_path / "kubeconfig"
    with api.running():
        initial_cluster(api)
        kubeconfig.write_text(yaml.safe_dump(api.kubeconfig()))
        spec = {"k8s": {"kind": "stream", "type": "kubernetes", "kubernetes": {
            "cluster": "prod-eu1", "auth": {"type": "kubeconfig", "path": str(kubeconfig)},
            "pending_after": "2s", "node_not_ready_after": "1m", "resync": "1s", "watch_timeout": "30s"}}}
        with running_sources(settings, spec, tmp_path) as runner:
            first = wait_for_records(settings, "alerts.raw", lambda records: len(
                {r.value.labels["alertname"] for r in records}) >= 6, describe=runner.log)

            # Watch events: the crash loop ends, the image-pull pod is deleted, the node is ready again,
            # and a new pod starts pending.
            api.put("pods", k.pod("web-1", "shop", uid="u-web-1", containers=[k.container_status(
                "app", running=True, restarts=7)]))
            api.delete("pods", k.pod("api-1", "shop", uid="u-api-1"))
            api.put("nodes", k.node("node-2", uid="n-2", ready="True", since=k.ago(seconds=1)))
            api.put("pods", k.pod("late-1", "jobs", uid="u-late-1", phase="Pending", node=None,
                                  created=k.ago(seconds=0),
                                  scheduled=("False", "Unschedulable", "0/3 nodes are available.")))
            watched = wait_for_records(settings, "alerts.raw", lambda records: (
                resolved(records, "KubePodCrashLooping", pod="web-1")
                and resolved(records, "KubePodImagePullFailing", pod="api-1")
                and resolved(records, "KubeNodeNotReady", node="node-2")
                and alerts_named(records, "KubePodPending", pod="late-1")), describe=runner.log)

            # The watches expire; meanwhile batch-1 is deleted without any watch seeing it.
            lists_before = api.lists("pods")
            api.delete("pods", k.pod("batch-1", "jobs", uid="u-batch-1"), silently=True)
            api.expire()
            wait_for_records(settings, "alerts.raw", lambda records: resolved(
                records, "KubePodPending", pod="batch-1"), describe=runner.log)
            status = runner.status()[0]
            assert api.lists("pods") > lists_before, "no relist after 410 Gone"
            mark = datetime.now(timezone.utc)
            time.sleep(1.5)  # a resync more: the refresh goes on after the relist
            refreshed = wait_for_records(settings, "alerts.raw", lambda records: True)

    crash = alerts_named(first, "KubePodCrashLooping")[0]
    assert crash.labels == {"alertname": "KubePodCrashLooping", "cluster": "prod-eu1", "severity": "warning",
                            "namespace": "shop", "pod": "web-1", "container": "app", "node": "node-1"}
    assert "7 restarts" in crash.annotations["summary"] and "back-off" in crash.annotations["description"]
    assert crash.ends_at - crash.received_at == timedelta(seconds=4)  # refreshed: now + 4 × resync
    oom = alerts_named(first, "KubeContainerOOMKilled")[0]
    assert oom.labels["pod"] == "cache-1" and oom.labels["container"] == "redis"
    assert oom.ends_at - oom.starts_at == timedelta(minutes=15), "an OOM kill ends oom_window after it happened"
    pull = alerts_named(first, "KubePodImagePullFailing")[0]
    assert pull.annotations["image"] == "registry.example/api:9.9"
    pending = alerts_named(first, "KubePodPending", pod="batch-1")[0]
    assert pending.labels["namespace"] == "jobs" and "node" not in pending.labels
    assert pending.annotations["reason"] == "Unschedulable" and "Insufficient cpu" in pending.annotations["description"]
    node_down = alerts_named(first, "KubeNodeNotReady")[0]
    assert node_down.labels == {"alertname": "KubeNodeNotReady", "cluster": "prod-eu1", "severity": "critical",
                                "node": "node-2"}
    warning = alerts_named(first, "KubeWarningEvent")
    assert [a.labels["reason"] for a in warning] == ["FailedMount"] * len(warning), "Normal and BackOff are not alerts"
    assert warning[0].labels["pod"] == "web-1" and warning[0].annotations["count"] == "4"
    assert not alerts_named(first, "KubePodCrashLooping", pod="fine-1")

    late = alerts_named(watched, "KubePodPending", pod="late-1")[0]
    assert late.received_at - late.starts_at >= timedelta(seconds=2), "fired by the resync timer, past pending_after"
    assert status["health"] == "ok" and all(w["listed"] for w in status["watches"])
    # After the resolves, only the held conditions are refreshed; resolved ones stay resolved.
    tail = [r.value for r in refreshed if r.value.received_at > mark]
    assert not [a for a in tail if a.labels.get("pod") in ("web-1", "api-1", "batch-1")
                and a.labels["alertname"] != "KubeWarningEvent"]
    assert any(a.labels["alertname"] == "KubePodPending" and a.labels["pod"] == "late-1" for a in tail)


def test_a_wrong_token_makes_the_source_fail_without_leaking_it(settings, applied_topology, tmp_path):
    api = k.FakeApiServer(TOKEN)
    with api.running():
        config = api.kubeconfig()
        config["users"][0]["user"]["token"] = "not-the-right-token"
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        spec = {"k8s": {"kind": "stream", "type": "kubernetes", "breaker": {"failures": 1, "cooldown": "1s"},
                        "kubernetes": {"cluster": "c", "auth": {"type": "kubeconfig", "path": str(kubeconfig)}}}}
        with running_sources(settings, spec, tmp_path, ready=False) as runner:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and runner.status()[0]["health"] != "failing":
                time.sleep(0.2)
            status = runner.status()[0]
            log = runner.log(200)
    assert status["health"] == "failing" and "HTTP 401: Unauthorized" in status["detail"]
    assert "not-the-right-token" not in log and "not-the-right-token" not in str(status)
