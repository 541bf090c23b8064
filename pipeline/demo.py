"""``pipeline demo``: every component started on the local services, one alert carried to a sink.

Starts the bridge and one worker per chain of the topology (the sink's included), plus a small webhook
receiver standing in for a notification target (the example configuration's ``demo-webhook`` receiver
posts to it), posts an alert the way Prometheus does, prints it from each topic it is written to (the
chains pass it on in memory in between), and finally the Alertmanager-format webhook payload the
receiver got after group_wait.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import orjson

from pipeline.devenv.components import Component, wait_until_ready
from pipeline.devenv.process import free_port, port_in_use
from pipeline.settings import Settings
from pipeline.runtime.reader import wait_for_records

def written_topics(topology) -> dict[str, str]:
    """topic -> the stage writing it, in data-flow order, for the topics the chains write to Kafka
    (what the chain passes in memory is not there to print; table changelogs that are public topics are)."""
    written: dict[str, str] = {}
    for chain in topology.chains():
        internal = chain.internal()
        for stage in chain.stages:
            for table in stage.tables.values():
                if topology.topics[table.changelog].schema_name:
                    written[table.changelog] = stage.name
            for topic in stage.outputs.values():
                spec = topology.topics[topic]
                if spec.schema_name == "Notification" and spec.delay_s is not None:
                    continue  # retry tiers: only on failure
                if spec.schema_name == "DeliveryOutcome":
                    continue  # names no alert to find the demo's by; printed after the delivery
                if (topic not in internal or spec.tap) and topic not in written:
                    written[topic] = stage.name
    return {t: s for t, s in written.items() if not t.endswith(".dlq")}


class DemoReceiver:
    """The notification target of the demo: records the webhook payloads POSTed to it."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.payloads: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == receiver.path:
                    receiver.payloads.append(orjson.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def demo_webhook_url(settings: Settings) -> str:
    """The first webhook URL of the example configuration: the demo's stand-in target listens there."""
    from pipeline.alertmanager_config import load_alertmanager_config

    config = load_alertmanager_config(settings.alertmanager_config)
    for receiver in config.receivers:
        for integration in receiver.of_kind("webhook"):
            return str(integration.config["url"])
    raise RuntimeError(f"{settings.alertmanager_config} has no webhook receiver for the demo to stand in for")


def run_demo(settings: Settings, echo: Callable[[str], None] = print, timeout_s: float = 90.0,
             keep_running: bool = False) -> dict:
    """Returns the webhook payload the demo receiver got."""
    if port_in_use(settings.bridge.port, settings.bridge.host):
        # e.g. Debian's prometheus-alertmanager service, which also defaults to 9093
        port = free_port()
        echo(f"port {settings.bridge.port} is taken; the demo bridge listens on {port} instead")
        settings = settings.model_copy(update={"bridge": settings.bridge.model_copy(update={"port": port})})
    hook_url = demo_webhook_url(settings)
    receiver = DemoReceiver(hook_url)
    from pipeline.topology import load_topology

    from pipeline.topology import enabled_features

    topology = load_topology(settings.topics.topology_file)
    # Optional chains (history) only where the settings enable them: the demo runs without PostgreSQL.
    chains = [chain.name for chain in topology.enabled_chains(enabled_features(settings))]
    log_dir = settings.dev.state_dir / "logs"
    components = [Component("bridge", ["bridge"], settings, log_dir)]
    components += [Component(chain, ["worker", chain], settings, log_dir) for chain in chains]
    for component in components:
        component.start()
    try:
        bridge_url = f"http://{settings.bridge.host}:{settings.bridge.port}"
        seconds = wait_until_ready(components[0], f"{bridge_url}/readyz")
        echo(f"bridge ready at {bridge_url} in {seconds:.1f} s; chain workers: {', '.join(chains)}; "
             f"demo webhook target at {hook_url} (logs in {log_dir})")
        echo(f"web UI: {bridge_url}/ui/ (alerts and silences; up while the bridge runs: "
             f"{'it keeps running' if keep_running else 'pipeline demo --keep-running leaves it up'})")
        run_id = uuid.uuid4().hex[:8]
        alert = {
            "labels": {"alertname": "DemoAlert", "severity": "warning", "instance": "demo-host:9100",
                       "job": "node", "demo_run": run_id},
            "annotations": {"summary": "Demo alert from `pipeline demo`",
                            "runbook_url": "https://example.org/runbooks/demo"},
            "generatorURL": "http://prometheus.local/graph?g0.expr=up%3D%3D0",
        }
        response = httpx.post(f"{bridge_url}/api/v2/alerts", json=[alert], timeout=10)
        echo(f"POST /api/v2/alerts (as Prometheus does) → {response.status_code} {response.text}")
        response.raise_for_status()
        notification_ids = set()
        for topic, stage in written_topics(topology).items():
            record = _wait_for(settings, topic, run_id, timeout_s, components)
            if topology.topics[topic].schema_name == "Notification":
                notification_ids.add(record["value"].get("id"))
            echo(f"\n{stage} → {settings.topic(topic)}:")
            echo(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode())
        payload = _wait_for_delivery(receiver, run_id, timeout_s, components)
        echo(f"\nsink → POST {hook_url} (Alertmanager webhook v4):")
        echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        for topic in (t for t, spec in topology.topics.items() if spec.schema_name == "DeliveryOutcome"):
            outcome = _wait_for_outcome(settings, topic, notification_ids, timeout_s, components)
            echo(f"\nsink → {settings.topic(topic)} (for the history"
                 f"{'' if 'history' in chains else '; off here: PIPELINE_HISTORY__ENABLED=true runs it'}):")
            echo(orjson.dumps(outcome, option=orjson.OPT_INDENT_2).decode())
        return payload
    finally:
        if not keep_running:
            for component in reversed(components):
                component.stop()
            receiver.close()


def _wait_for_delivery(receiver: DemoReceiver, run_id: str, timeout_s: float, components) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for payload in receiver.payloads:
            if any(a.get("labels", {}).get("demo_run") == run_id for a in payload.get("alerts", [])):
                return payload
        dead = [c.name for c in components if not c.alive()]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited:\n" + "\n".join(c.log_tail(15) for c in components))
        time.sleep(0.2)
    raise TimeoutError(f"no webhook delivery of the demo alert within {timeout_s:.0f}s:\n"
                       + "\n".join(f"--- {c.name}\n{c.log_tail(15)}" for c in components))


def _wait_for(settings: Settings, topic: str, run_id: str, timeout_s: float, components) -> dict:
    def arrived(records) -> bool:
        return any(_demo_run(r) == run_id for r in records)

    records = wait_for_records(
        settings, topic, arrived, timeout=timeout_s,
        alive=lambda: all(c.alive() for c in components),
        describe=lambda: "\n".join(f"--- {c.name}\n{c.log_tail(15)}" for c in components))
    return next(r for r in records if _demo_run(r) == run_id).as_json()


def _wait_for_outcome(settings: Settings, topic: str, notification_ids: set, timeout_s: float, components) -> dict:
    def ours(record) -> bool:
        return getattr(record.value, "notification_id", None) in notification_ids

    records = wait_for_records(
        settings, topic, lambda rs: any(ours(r) for r in rs), timeout=timeout_s,
        alive=lambda: all(c.alive() for c in components),
        describe=lambda: "\n".join(f"--- {c.name}\n{c.log_tail(15)}" for c in components))
    return next(r for r in records if ours(r)).as_json()


def _demo_run(record) -> str | None:
    alerts = getattr(record.value, "alerts", None)  # a notification
    if alerts is not None:
        return next((a.labels["demo_run"] for a in alerts if "demo_run" in a.labels), None)
    alert = getattr(record.value, "alert", None)
    return alert.labels.get("demo_run") if alert is not None else None
