"""A real Alertmanager 0.25 notifies the bridge through its webhook receiver: firing, then resolved."""

import uuid
from datetime import datetime, timedelta, timezone

import httpx

from pipeline.fingerprint import alert_fingerprint
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import wait_for_records
from tests.integration.peer_processes import running_alertmanager

ALERT_NAME = "PipelinePeerTest"


def alertmanager_config(bridge_url: str) -> dict:
    return {
        "route": {"receiver": "pipeline", "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "pipeline", "webhook_configs": [
            {"url": f"{bridge_url}/api/v1/webhooks/alertmanager", "send_resolved": True},
        ]}],
    }


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_alertmanager_webhook_delivers_firing_then_resolved(settings, applied_topology, tmp_path):
    run = uuid.uuid4().hex[:8]
    labels = {name: {"alertname": ALERT_NAME, "run": run, "instance": name, "severity": "critical"}
              for name in ("a", "b")}
    # Whole seconds: what is compared after the round trip through Alertmanager and the bridge.
    started = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)

    with running_bridge(settings, OPEN_SOURCES, tmp_path / "bridge") as bridge, \
            running_alertmanager(tmp_path / "alertmanager", alertmanager_config(bridge.url)) as alertmanager:

        def describe() -> str:
            return f"--- bridge log ---\n{bridge.log()}\n{alertmanager.log()}"

        def alive() -> bool:
            return bridge.component.alive() and alertmanager.alive()

        def of(records, instance, status):
            return [r for r in records if r.value.labels.get("run") == run
                    and r.value.labels.get("instance") == instance and r.value.status == status]

        def post(alerts: list[dict]) -> None:
            response = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
            assert response.status_code == 200, f"{response.status_code} {response.text}\n{describe()}"

        post([{"labels": labels[name], "annotations": {"summary": f"instance {name} is down"},
               "startsAt": rfc3339(started), "generatorURL": "http://prometheus.example/graph"}
              for name in ("a", "b")])

        records = wait_for_records(
            bridge.settings, "alerts.raw",
            lambda rs: bool(of(rs, "a", "firing")) and bool(of(rs, "b", "firing")),
            timeout=60, alive=alive, describe=describe)
        for name in ("a", "b"):
            record = of(records, name, "firing")[0]
            alert = record.value
            context = f"record: {record.as_json()}\n{describe()}"
            assert alert.labels == labels[name], context
            assert alert.annotations == {"summary": f"instance {name} is down"}, context
            assert alert.source == "alertmanager" and alert.source_format == "alertmanager-webhook-v4", context
            # Alertmanager sends Go's zero time as endsAt for a firing alert: no end.
            assert alert.ends_at is None, context
            assert alert.starts_at == started, context
            assert alert.generator_url == "http://prometheus.example/graph", context
            assert record.key == alert.fingerprint == alert_fingerprint(labels[name]), context

        # Resolve b the way Prometheus does: the same alert again, its end in the past.
        ended = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
        post([{"labels": labels["b"], "annotations": {"summary": "instance b is down"},
               "startsAt": rfc3339(started), "endsAt": rfc3339(ended),
               "generatorURL": "http://prometheus.example/graph"}])

        records = wait_for_records(bridge.settings, "alerts.raw", lambda rs: bool(of(rs, "b", "resolved")),
                                   timeout=60, alive=alive, describe=describe)
        resolved = of(records, "b", "resolved")[0]
        context = f"record: {resolved.as_json()}\n{describe()}"
        assert resolved.value.source_format == "alertmanager-webhook-v4", context
        assert resolved.value.starts_at == started and resolved.value.ends_at == ended, context
        assert resolved.key == resolved.value.fingerprint == alert_fingerprint(labels["b"]), context
        # Same key, same partition: the resolution comes after b's firing record.
        assert resolved.offset > of(records, "b", "firing")[0].offset, context
        assert not of(records, "a", "resolved"), f"a was never resolved\n{describe()}"
