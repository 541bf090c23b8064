"""The whole pipeline as real processes: bridge plus one worker per chain, on a fresh topic prefix,
with an Alertmanager configuration written by the test, and a webhook collector that records when
each notification arrived. Used by the end-to-end, scenario, differential and crash tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from pipeline.devenv.components import Component
from pipeline.runtime.admin import admin_client
from pipeline.settings import GroupSettings, Settings, WorkerSettings
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.topology import load_topology
from tests.integration.bridge_harness import OPEN_SOURCES, RunningBridge, running_bridge

# Alertmanager-compatible classification: no relabeling, results kept out of the labels, so label
# sets, fingerprints and group keys are exactly Alertmanager's.
AM_COMPATIBLE_CLASSIFICATION = """\
classification:
  labels: {priority: null, category: null, team: null, auto_incident: null}
"""

# The topologies the end-to-end suites run against: the default chaining and every stage on its own.
TOPOLOGIES = {"chained": TOPOLOGIES_DIR / "default.yaml", "split": TOPOLOGIES_DIR / "split.yaml"}


def chains_of(settings: Settings, sink: bool = False) -> tuple[str, ...]:
    """The chains of the settings' topology in data-flow order that its settings enable (history only
    with history.enabled); the sink's only when asked for (a test that needs deliveries, not just
    notification records)."""
    from pipeline.topology import enabled_features

    chains = load_topology(settings.topics.topology_file).enabled_chains(enabled_features(settings))
    return tuple(c.name for c in chains if sink or c.name != "sink")


@dataclass(frozen=True)
class Delivery:
    received: float          # time.time() when it arrived
    path: str
    body: dict[str, Any]


# One notification per alert, at once: each alert (by alertname) alone in its group, group_wait 0.
ONE_GROUP_PER_ALERT = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs: [{url: "URL/hook"}]
"""


@dataclass
class WebhookCollector:
    """An HTTP server that answers 200 to every POST and keeps what it got, in order; while
    ``refusing`` is set it answers 503 and keeps nothing (a target that is down)."""

    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""
    refusing: threading.Event = field(default_factory=threading.Event)
    refused: int = 0

    def start(self) -> WebhookCollector:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if collector.refusing.is_set():
                    collector.refused += 1
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = {"_raw": body.decode("utf-8", "replace")}
                collector.deliveries.append(Delivery(time.time(), self.path, parsed))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == path]


@dataclass
class RunningPipeline:
    settings: Settings
    bridge: RunningBridge
    workers: dict[str, Component]
    workdir: Path

    @property
    def url(self) -> str:
        return self.bridge.url

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, response.text

    def restart(self, stage: str) -> Component:
        old = self.workers[stage]
        worker = Component(stage, ["worker", stage], old.settings, self.workdir / "logs").start()
        self.workers[stage] = worker
        return worker

    def logs(self) -> str:
        parts = [f"--- bridge\n{self.bridge.log()}"]
        parts += [f"--- {name}\n{worker.log_tail(25)}" for name, worker in self.workers.items()]
        return "\n".join(parts)

    def check_alive(self) -> None:
        dead = [name for name, worker in self.workers.items() if not worker.alive()]
        assert not dead, f"workers died: {dead}\n{self.logs()}"


def wait_for_stage_groups(settings: Settings, chains: tuple[str, ...], workers: dict[str, Component],
                          timeout: float = 120.0) -> None:
    """Until every chain's consumer group is stable with its input partitions assigned."""
    topology = {c.name: c for c in load_topology(settings.topics.topology_file).chains()}
    group_ids = {settings.topics.prefix + topology[name].consumer_group: name for name in chains}
    admin = admin_client(settings.kafka)
    deadline = time.monotonic() + timeout
    pending = dict(group_ids)
    while pending:
        for name, worker in workers.items():
            assert worker.alive(), f"{name} exited while starting:\n{worker.log_tail(40)}"
        futures = admin.describe_consumer_groups(list(pending))
        for group_id, future in futures.items():
            try:
                description = future.result(timeout=10)
            except Exception:  # noqa: BLE001 - not there yet
                continue
            if description.state.name == "STABLE" and any(m.assignment.topic_partitions
                                                           for m in description.members):
                pending.pop(group_id, None)
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"chains not ready after {timeout:.0f}s: {sorted(pending.values())}\n"
                                 + "\n".join(w.log_tail(20) for w in workers.values()))
        if pending:
            time.sleep(0.3)


@contextmanager
def running_pipeline(settings: Settings, workdir: Path, alertmanager_yaml: str,
                     stages: tuple[str, ...] | None = None, classification_yaml: str = AM_COMPATIBLE_CLASSIFICATION,
                     sink: bool = False, **overrides: Any) -> Iterator[RunningPipeline]:
    """``stages``: the chains to run (default: every chain of the topology, the sink's when ``sink``)."""
    config_path = workdir / "alertmanager.yml"
    workdir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(alertmanager_yaml)
    rules_path = workdir / "classification.yaml"
    rules_path.write_text(classification_yaml)
    configured = settings.model_copy(update={
        "classification": settings.classification.model_copy(update={"rules_file": rules_path}),
        "alertmanager_config": config_path,
        "worker": overrides.pop("worker", WorkerSettings(data_dir=workdir / "state")),
        "group": overrides.pop("group", GroupSettings(external_url="http://pipeline.test")),
        **overrides,
    })
    if stages is None:
        stages = chains_of(configured, sink=sink)
    with ExitStack() as stack:
        workers = {}
        for stage in stages:
            workers[stage] = stack.enter_context(
                Component(stage, ["worker", stage], configured, workdir / "logs"))
        bridge = stack.enter_context(running_bridge(configured, OPEN_SOURCES, workdir / "bridge"))
        wait_for_stage_groups(configured, stages, workers)
        pipeline = RunningPipeline(configured, bridge, workers, workdir)
        try:
            yield pipeline
        finally:
            for worker in pipeline.workers.values():
                worker.stop()
