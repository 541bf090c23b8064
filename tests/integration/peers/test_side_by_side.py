"""One Prometheus notifying both the bridge (API v2) and a real Alertmanager that webhooks to the bridge."""

from urllib.parse import urlparse

from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import wait_for_records
from tests.integration.peer_processes import running_alertmanager, running_prometheus

ALERT_NAME = "PipelineSideBySide"

RULES = {"groups": [{
    "name": "pipeline-side-by-side",
    "interval": "1s",
    "rules": [{
        "alert": ALERT_NAME,
        "expr": "vector(1)",
        "for": "0s",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "seen by both paths"},
    }],
}]}


def test_prometheus_direct_and_through_alertmanager_agree(settings, applied_topology, tmp_path):
    with running_bridge(settings, OPEN_SOURCES, tmp_path / "bridge") as bridge:
        alertmanager_config = {
            "route": {"receiver": "pipeline", "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "pipeline", "webhook_configs": [
                {"url": f"{bridge.url}/api/v1/webhooks/alertmanager", "send_resolved": True},
            ]}],
        }
        with running_alertmanager(tmp_path / "alertmanager", alertmanager_config) as alertmanager:
            prometheus_config = {
                "global": {"evaluation_interval": "1s", "scrape_interval": "1m"},
                "alerting": {"alertmanagers": [
                    {"api_version": "v2", "static_configs": [{"targets": [f"127.0.0.1:{urlparse(bridge.url).port}"]}]},
                    {"api_version": "v2", "static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]},
                ]},
            }
            # See test_prometheus: the first notification is dropped before discovery; resend soon.
            with running_prometheus(tmp_path / "prometheus", prometheus_config, {"rules.yml": RULES},
                                    extra_args=["--rules.alert.resend-delay=2s"]) as prometheus:

                def describe() -> str:
                    return f"--- bridge log ---\n{bridge.log()}\n{alertmanager.log()}\n{prometheus.log()}"

                def by_source(records):
                    found = {}
                    for record in records:
                        if record.value.labels.get("alertname") == ALERT_NAME:
                            found.setdefault(record.value.source, record)
                    return found

                records = wait_for_records(
                    bridge.settings, "alerts.raw", lambda rs: {"prometheus", "alertmanager"} <= set(by_source(rs)),
                    timeout=60, describe=describe,
                    alive=lambda: bridge.component.alive() and alertmanager.alive() and prometheus.alive())

                found = by_source(records)
                direct, relayed = found["prometheus"], found["alertmanager"]
                context = f"direct: {direct.as_json()}\nrelayed: {relayed.as_json()}\n{describe()}"
                assert direct.value.source_format == "alertmanager-v2", context
                assert relayed.value.source_format == "alertmanager-webhook-v4", context
                assert direct.value.status is None and relayed.value.status == "firing", context
                # Prometheus states a "valid until" end; Alertmanager sends a firing alert without one.
                assert direct.value.ends_at is not None and relayed.value.ends_at is None, context
                # The same alert either way: same labels, hence the same fingerprint and key.
                assert direct.value.labels == relayed.value.labels == {"alertname": ALERT_NAME,
                                                                         "severity": "warning"}, context
                assert direct.key == relayed.key == direct.value.fingerprint == relayed.value.fingerprint, context
                assert direct.value.annotations == relayed.value.annotations, context
                assert direct.value.starts_at == relayed.value.starts_at, context
                assert direct.value.generator_url == relayed.value.generator_url, context
                assert direct.value.generator_url.startswith(f"{prometheus.url}/graph?"), context
