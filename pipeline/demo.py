"""``pipeline demo``: the built components started on the local services, one alert sent through.

Starts the bridge and every implemented stage worker, posts an alert the way Prometheus does, and
prints it from each topic it reaches. Stage workers not built yet are listed, not faked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import orjson

from pipeline.devenv.components import Component, wait_until_ready
from pipeline.devenv.process import free_port, port_in_use
from pipeline.settings import Settings
from pipeline.topic_reader import wait_for_records

# Stages with an implementation, in data-flow order, and the topic each one writes alerts to.
BUILT_STAGES = {"normalize": "alerts.normalized", "dedup": "alerts.deduped"}


def run_demo(settings: Settings, echo: Callable[[str], None] = print, timeout_s: float = 90.0,
             keep_running: bool = False) -> dict:
    """Returns the alert as it reached the last built stage's topic."""
    if port_in_use(settings.bridge.port, settings.bridge.host):
        # e.g. Debian's prometheus-alertmanager service, which also defaults to 9093
        port = free_port()
        echo(f"port {settings.bridge.port} is taken; the demo bridge listens on {port} instead")
        settings = settings.model_copy(update={"bridge": settings.bridge.model_copy(update={"port": port})})
    log_dir = settings.dev.state_dir / "logs"
    components = [Component("bridge", ["bridge"], settings, log_dir)]
    components += [Component(stage, ["worker", stage], settings, log_dir) for stage in BUILT_STAGES]
    for component in components:
        component.start()
    try:
        bridge_url = f"http://{settings.bridge.host}:{settings.bridge.port}"
        seconds = wait_until_ready(components[0], f"{bridge_url}/readyz")
        echo(f"bridge ready at {bridge_url} in {seconds:.1f} s; workers: {', '.join(BUILT_STAGES)} (logs in {log_dir})")
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
        last = None
        for stage, topic in BUILT_STAGES.items():
            last = _wait_for(settings, topic, run_id, timeout_s, components)
            echo(f"\n{stage} → {settings.topic(topic)}:")
            echo(orjson.dumps(last, option=orjson.OPT_INDENT_2).decode())
        return last or {}
    finally:
        if not keep_running:
            for component in reversed(components):
                component.stop()


def _wait_for(settings: Settings, topic: str, run_id: str, timeout_s: float, components) -> dict:
    def arrived(records) -> bool:
        return any(_demo_run(r) == run_id for r in records)

    records = wait_for_records(
        settings, topic, arrived, timeout=timeout_s,
        alive=lambda: all(c.alive() for c in components),
        describe=lambda: "\n".join(f"--- {c.name}\n{c.log_tail(15)}" for c in components))
    return next(r for r in records if _demo_run(r) == run_id).as_json()


def _demo_run(record) -> str | None:
    alert = getattr(record.value, "alert", None)
    return alert.labels.get("demo_run") if alert is not None else None
