"""The bridge's ASGI app for the read/ingest interference bench: the real Bridge, AlertmanagerApi and
access layer over a view filled with ``BENCH_ALERTS`` alerts, and a writer that acknowledges at once
(no broker: what is measured is the event loop, not Kafka).

Written against the constructor signatures both the current code and the code before the change
(``git worktree add /tmp/before c59ba3d``) accept, so the same bench runs on either checkout:
``PYTHONPATH=<checkout> uvicorn --factory bench.api_reads.server:create_app``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from pipeline.amconfig import parse_config
from pipeline.api.handlers import AlertmanagerApi
from pipeline.api.view import ApiView
from pipeline.runtime.raw_writer import RawWriter
from pipeline.bridge.app import Bridge, BridgeConfig, build_app
from pipeline.bridge.sources import Source, SourceRegistry
from pipeline.models import Alert, EnrichedAlert

CONFIG = """
route:
  receiver: default
  group_by: [alertname, service]
  routes:
  - {receiver: team-db, matchers: ['service="db"'], group_by: [alertname, instance], continue: true}
  - {receiver: team-web, matchers: ['service=~"web|api"']}
receivers: [{name: default}, {name: team-db}, {name: team-web}]
inhibit_rules:
- {source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: [service]}
"""


class AcknowledgingWriter:
    async def send_values(self, topic, keys, values, partitions=None, timestamp_ms=None) -> None:
        return None

    async def send_all(self, records) -> None:
        return None

    def broker_reachable(self, timeout: float = 2.0) -> bool:
        return True


def filled_view(count: int) -> ApiView:
    view = ApiView(parse_config(CONFIG))
    now = datetime.now(timezone.utc)
    services = ["db", "web", "api", "cache", "queue"]
    for i in range(count):
        labels = {"alertname": f"Alert{i % 50}", "service": services[i % 5], "instance": f"host-{i}:9100",
                  "severity": ["critical", "warning", "info"][i % 3], "job": "node", "team": f"team-{i % 7}",
                  "region": "eu-west-1", "pod": f"pod-{i}"}
        alert = Alert.with_fingerprint(labels=labels, annotations={"summary": f"summary of alert {i}",
                                                                   "description": "x" * 120},
                                       starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1),
                                       status="firing", updated_at=now)
        view.apply_alert(None, EnrichedAlert(alert=alert, source="bench", source_format="direct", received_at=now))
    view.ready.set()
    return view


def create_app():
    view = filled_view(int(os.environ.get("BENCH_ALERTS", "20000")))
    writer = AcknowledgingWriter()
    sources = SourceRegistry([Source(name="prometheus", type="alertmanager-v2", auth="none")])
    bridge = Bridge(BridgeConfig(sources=sources, resolve_timeout=timedelta(minutes=5)),
                    RawWriter(writer, "alerts.raw", "alerts.dlq", None))
    api = AlertmanagerApi(view, writer, "silences", config_text=CONFIG)
    return build_app(bridge, api=api)
