"""A real Prometheus evaluates an always-firing rule and delivers the alert to the bridge as its Alertmanager."""

from datetime import datetime, timezone
from urllib.parse import urlparse

from pipeline.fingerprint import alert_fingerprint
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import wait_for_records
from tests.integration.peer_processes import running_prometheus

ALERT_NAME = "PipelineTestAlert"

RULES = {"groups": [{
    "name": "pipeline-test",
    "interval": "1s",
    "rules": [{
        "alert": ALERT_NAME,
        "expr": "vector(1)",
        "for": "0s",
        "labels": {"severity": "warning", "team": "pipeline"},
        # Templated by Prometheus itself: the bridge must receive the rendered text.
        "annotations": {"summary": "pipeline test alert, value {{ $value }}"},
    }],
}]}


def prometheus_config(bridge_port: int) -> dict:
    return {
        "global": {"evaluation_interval": "1s", "scrape_interval": "1m"},
        "alerting": {"alertmanagers": [{
            "api_version": "v2",
            "static_configs": [{"targets": [f"127.0.0.1:{bridge_port}"]}],
        }]},
    }


def test_prometheus_delivers_firing_alert_to_bridge(settings, applied_topology, tmp_path):
    with running_bridge(settings, OPEN_SOURCES, tmp_path / "bridge") as bridge:
        bridge_port = urlparse(bridge.url).port
        # Prometheus 2.42 evaluates the rule before its notifier has discovered the static
        # Alertmanager target, so the first notification is dropped (prometheus_notifications_dropped_total
        # 1) and the alert is only sent again after resend_delay, 1m by default. A short resend delay
        # makes delivery arrive within seconds instead of just over a minute.
        with running_prometheus(tmp_path / "prometheus", prometheus_config(bridge_port),
                                {"rules.yml": RULES}, extra_args=["--rules.alert.resend-delay=2s"]) as prometheus:

            def ours(records):
                return [r for r in records if r.value.labels.get("alertname") == ALERT_NAME]

            def describe() -> str:
                return f"--- bridge log ---\n{bridge.log()}\n{prometheus.log()}"

            records = wait_for_records(
                bridge.settings, "alerts.raw", lambda rs: bool(ours(rs)), timeout=60,
                alive=lambda: bridge.component.alive() and prometheus.alive(), describe=describe)

            record = ours(records)[0]
            alert = record.value
            context = f"record: {record.as_json()}\n{describe()}"
            assert alert.labels == {"alertname": ALERT_NAME, "severity": "warning", "team": "pipeline"}, context
            assert alert.annotations == {"summary": "pipeline test alert, value 1"}, context
            assert alert.source == "prometheus" and alert.source_format == "alertmanager-v2", context
            assert alert.status in (None, "firing"), context
            assert record.key == alert.fingerprint == alert_fingerprint(alert.labels), context
            # Prometheus links back to the rule's expression on its own (external) URL.
            assert alert.generator_url and alert.generator_url.startswith(f"{prometheus.url}/graph?"), context
            assert "vector%281%29" in alert.generator_url, context
            # Prometheus states when the alert began and a "valid until" end in the future of that start.
            assert alert.starts_at is not None and alert.starts_at <= datetime.now(timezone.utc), context
            assert alert.ends_at is not None and alert.ends_at > alert.starts_at, context
