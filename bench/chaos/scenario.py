"""The fault suite's scenario (issue #13 point 10): steady load while faults hit every part, then a
comparison of what was accepted with what was delivered.

On a broker and a Redis of its own (so the faults touch nothing else), the whole pipeline (the
bridge, every chain, the sink) takes one new alert per ``1/rate`` seconds, each alone in its group
(group_wait 0): one notification per accepted alert is owed. Meanwhile, at fixed fractions of the run:

- ``kill``: SIGKILL of each chain worker in turn (normalize, group, sink), restarted at once;
- ``target``: the webhook answers 503 for a tenth of the run (the retry tiers take over);
- ``redis``: Redis stopped for a tenth of the run (deliveries wait; nothing is acknowledged);
- ``broker``: the broker stopped and started again (its data kept).

A worker that exits on its own (e.g. its producer's delivery timeout during the broker's absence) is
restarted as a supervisor would, and counted. The sender retries what the bridge did not accept, as
Prometheus does; only alerts answered 2xx are owed. After the load, the run waits until every owed
notification was delivered or dead-lettered, then reports: delivered once, delivered more than once,
dead-lettered (with the reasons), lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pipeline.devenv.kafka import LocalKafka
from pipeline.devenv.process import free_port
from pipeline.devenv.redis import LocalRedis
from pipeline.runtime.admin import admin_client
from pipeline.runtime.reader import read_topic
from pipeline.runtime.topics import apply_topology
from pipeline.settings import DevSettings, KafkaSettings, RedisSettings, Settings, TopicSettings
from pipeline.topology import load_topology

FAULTS = ("kill", "target", "redis", "broker")
# The bench's default: short, so that a group flushed again without cause (a notification log lost to a
# fault) shows within the run, and groups flush often while the faults hit.
GROUP_INTERVAL_S = 20

@dataclass
class Report:
    seconds: float
    rate: float
    faults: tuple[str, ...]
    offered: int = 0
    accepted: int = 0
    delivered_once: int = 0
    delivered_twice: list[str] = field(default_factory=list)
    dead_lettered: dict[str, int] = field(default_factory=dict)  # reason -> count
    lost: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)  # not delivered yet, waiting in a retry tier
    worker_restarts: int = 0
    events: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"{self.seconds:.0f} s at {self.rate:g} alerts/s, faults: {', '.join(self.faults)}",
            f"offered {self.offered}, accepted {self.accepted} (2xx)",
            f"delivered exactly once: {self.delivered_once}",
            f"delivered more than once: {len(self.delivered_twice)} {self.delivered_twice[:5]}",
            f"dead-lettered: {sum(self.dead_lettered.values())} {self.dead_lettered}",
            f"still waiting in a retry tier at the end: {len(self.retrying)} {self.retrying[:5]}",
            f"lost: {len(self.lost)} {self.lost[:5]}",
            f"workers restarted after exiting on their own: {self.worker_restarts}",
            *(f"  {event}" for event in self.events),
        ]


def private_services(base: Path) -> tuple[LocalKafka, LocalRedis]:
    dev = DevSettings(state_dir=base, kafka_port=free_port(), kafka_controller_port=free_port(),
                      redis_port=free_port(), kafka_heap="512m")
    return LocalKafka(dev), LocalRedis(dev)


def run(workdir: Path, *, seconds: float = 60.0, rate: float = 20.0, faults: tuple[str, ...] = FAULTS,
        drain_timeout_s: float = 180.0, group_interval_s: int = GROUP_INTERVAL_S,
        echo: Callable[[str], None] = print) -> Report:
    # The harness the tests use.
    from tests.integration.pipeline_harness import ONE_GROUP_PER_ALERT, WebhookCollector, running_pipeline

    broker, redis = private_services(workdir / "services")
    broker.up()
    redis.up()
    receiver = WebhookCollector().start()
    report = Report(seconds, rate, faults)
    started, wall_started = time.monotonic(), time.time()

    def event(text: str) -> None:
        report.events.append(f"{time.monotonic() - started:6.1f} s  {text}")
        echo(report.events[-1])

    try:
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
            redis=RedisSettings(url=f"redis://127.0.0.1:{redis.dev.redis_port}/0", password=redis.password()),
            topics=TopicSettings(prefix=f"chaos-{uuid.uuid4().hex[:8]}."))
        apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file),
                       settings.topics.prefix)
        with running_pipeline(settings, workdir / "pipeline", ONE_GROUP_PER_ALERT.replace("URL", receiver.url).replace(
            "group_interval: 5m", f"group_interval: {group_interval_s}s"),
                              sink=True) as pipeline:
            accepted: list[str] = []
            stop_load = threading.Event()

            def load() -> None:
                with httpx.Client(timeout=5) as client:
                    number = 0
                    next_at = time.monotonic()
                    while not stop_load.is_set():
                        name = f"Chaos{number}"
                        number += 1
                        report.offered += 1
                        give_up = time.monotonic() + 60
                        while time.monotonic() < give_up:  # a sender retries, as Prometheus does
                            try:
                                answer = client.post(f"{pipeline.url}/api/v2/alerts",
                                                     json=[{"labels": {"alertname": name}}])
                                if answer.status_code == 200:
                                    accepted.append(name)
                                    break
                            except httpx.HTTPError:
                                pass
                            time.sleep(0.5)
                        next_at += 1 / rate
                        time.sleep(max(0.0, next_at - time.monotonic()))

            sender = threading.Thread(target=load, daemon=True)
            sender.start()
            schedule = _schedule(faults, seconds)
            while time.monotonic() - started < seconds:
                elapsed = time.monotonic() - started
                while schedule and schedule[0][0] <= elapsed:
                    _, action = schedule.pop(0)
                    action_name = action(pipeline, broker, redis, receiver)
                    event(action_name)
                report.worker_restarts += _restart_exited(pipeline, event)
                time.sleep(0.2)
            for _, action in schedule:  # whatever did not come round (a short run): undo the downs
                event(action(pipeline, broker, redis, receiver))
            receiver.refusing.clear()
            stop_load.set()
            sender.join(timeout=90)
            event(f"load stopped: {len(accepted)} accepted")

            owed = set(accepted)
            deadline = time.monotonic() + drain_timeout_s
            dead = {}
            while time.monotonic() < deadline:
                report.worker_restarts += _restart_exited(pipeline, event)
                dead = _dead_letters(settings)
                if owed <= set(_delivered(receiver)) | set(dead):
                    break
                time.sleep(1.0)
            # A group whose notification log a fault lost would notify again at its next group_interval.
            time.sleep(group_interval_s + 5.0 if group_interval_s <= 60 else 3.0)
            dead = _dead_letters(settings)
            delivered = _delivered(receiver)
            event("drained" if owed <= set(delivered) | set(dead) else "drain timed out")
        report.accepted = len(owed)
        report.delivered_once = sum(1 for name in owed if delivered[name] == 1)
        report.delivered_twice = sorted((name for name, count in delivered.items() if count > 1),
                                        key=lambda name: int(name.removeprefix("Chaos")))
        for name in report.delivered_twice[:3]:
            times = [f"{d.received - wall_started:.1f} s" for d in receiver.deliveries
                     if any(a["labels"]["alertname"] == name for a in d.body.get("alerts", []))]
            report.events.append(f"{name} delivered at {', '.join(times)}")
        missing = owed - set(delivered)
        retrying = _in_retry_tiers(settings) if missing else set()
        for name in missing:
            if name in dead:
                report.dead_lettered[dead[name]] = report.dead_lettered.get(dead[name], 0) + 1
            elif name in retrying:
                report.retrying.append(name)
            else:
                report.lost.append(name)
        report.lost.sort()
        report.retrying.sort()
        return report
    finally:
        receiver.stop()
        redis.down()
        broker.down()


def _schedule(faults: tuple[str, ...], seconds: float):
    steps = []
    if "kill" in faults:
        steps += [(0.15, _kill("normalize")), (0.25, _kill("group")), (0.35, _kill("sink"))]
    if "target" in faults:
        steps += [(0.45, _target(True)), (0.55, _target(False))]
    if "redis" in faults:
        steps += [(0.6, _redis(False)), (0.7, _redis(True))]
    if "broker" in faults:
        steps += [(0.8, _broker_restart)]
    return sorted(((fraction * seconds, action) for fraction, action in steps), key=lambda step: step[0])


def _kill(chain: str):
    def action(pipeline, _broker, _redis, _receiver) -> str:
        worker = pipeline.workers[chain]
        pid = worker.process.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while worker.alive():
                time.sleep(0.05)
        pipeline.restart(chain)
        return f"kill -9 {chain} (pid {pid}), restarted"
    return action


def _target(down: bool):
    def action(_pipeline, _broker, _redis, receiver) -> str:
        (receiver.refusing.set if down else receiver.refusing.clear)()
        return "webhook target down (503)" if down else "webhook target up"
    return action


def _redis(up: bool):
    def action(_pipeline, _broker, redis, _receiver) -> str:
        if up:
            redis.up()
            return "redis started again"
        redis.down()
        return "redis stopped"
    return action


def _broker_restart(_pipeline, broker, _redis, _receiver) -> str:
    began = time.monotonic()
    broker.down()
    broker.up()
    return f"broker stopped and started again ({time.monotonic() - began:.1f} s)"


def _restart_exited(pipeline, event) -> int:
    restarted = 0
    for name, worker in list(pipeline.workers.items()):
        if not worker.alive():
            event(f"{name} exited on its own: {worker.log_tail(3).splitlines()[-1:]}; restarted")
            pipeline.restart(name)
            restarted += 1
    return restarted


def _delivered(receiver) -> Counter[str]:
    """alertname -> how many notifications carrying it firing the target accepted. (An alert posted
    once resolves resolve_timeout later, 5 minutes: its resolved notification is owed too, and is not
    a duplicate; long runs see them.)"""
    return Counter(alert["labels"]["alertname"] for delivery in list(receiver.deliveries)
                   for alert in delivery.body.get("alerts", []) if alert.get("status") == "firing")


def _in_retry_tiers(settings: Settings) -> set[str]:
    """alertnames of the notifications on any retry tier (the topics with a delay)."""
    topology = load_topology(settings.topics.topology_file)
    tiers = [name for name, spec in topology.topics.items() if spec.delay_s is not None]
    return {alert.labels["alertname"] for tier in tiers for record in read_topic(settings, tier, idle_timeout_s=5)
            for alert in record.value.alerts}


def _dead_letters(settings: Settings) -> dict[str, str]:
    """alertname -> the reason of its notification's dead letter."""
    out = {}
    for record in read_topic(settings, "notifications.dlq", idle_timeout_s=5):
        reason = record.headers.get("__connect.errors.exception.message") or record.headers.get(
            "pipeline.retry.last_error") or "?"
        for alert in record.value.alerts:
            out[alert.labels["alertname"]] = reason[:80]
    return out
