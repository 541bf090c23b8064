"""The sink worker as a real process with the real broker and Redis, against fake webhook targets:
retry tiers, the DLQ and replay, isolation of a slow target, and kill -9 in the middle of a delivery.

Tier delays come from a copy of the default topology with delays of 1, 2, 3 and 4 s (the tier topics
keep their names).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
import yaml
from confluent_kafka import Producer
from pytest_httpserver import HTTPServer
from werkzeug import Response

from pipeline import wire
from pipeline.devenv.components import Component
from pipeline.runtime.admin import admin_client
from pipeline.models import Alert, Notification
from pipeline.paths import REPO_ROOT
from pipeline.runtime.producer import durable_config
from pipeline.settings import KafkaSettings, RedisSettings, Settings, SinkSettings, TopicSettings, WorkerSettings
from pipeline.settings import settings_env
from pipeline.topology import load_topology
from pipeline.runtime.topics import apply_topology
from tests.integration.helpers import wait_for_records

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def target():
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def sink_settings(kafka_bootstrap, redis_url, tmp_path, receivers: dict[str, str], **sink) -> Settings:
    """Settings with a fresh prefix, a 1s-tier topology applied, and one webhook receiver per URL."""
    document = yaml.safe_load((REPO_ROOT / "topologies" / "default.yaml").read_text())  # the sink: a chain of its own
    tiers = [spec for spec in document["topics"].values() if spec and "delay" in spec]
    for seconds, spec in enumerate(tiers, start=1):  # same order as the declared delays, 1s apart
        spec["delay"] = f"{seconds}s"
    topology_file = tmp_path / "topology.yaml"
    topology_file.write_text(yaml.safe_dump(document, sort_keys=False))
    am_config = tmp_path / "alertmanager.yml"
    am_config.write_text(yaml.safe_dump({
        "route": {"receiver": next(iter(receivers))},
        "receivers": [{"name": name, "webhook_configs": [{"url": url}]} for name, url in receivers.items()],
    }))
    prefix = f"sink{uuid.uuid4().hex[:8]}."
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap), redis=RedisSettings(url=redis_url),
        topics=TopicSettings(prefix=prefix, topology_file=topology_file), alertmanager_config=am_config,
        worker=WorkerSettings(data_dir=tmp_path / "state"),
        sink=SinkSettings(**{"rate_per_target_s": 1000, "burst_per_target": 1000, **sink}))
    report = apply_topology(admin_client(settings.kafka), load_topology(topology_file), prefix)
    assert not report.unresolved, report.unresolved
    return settings


def notification(receiver: str, name: str) -> Notification:
    now = datetime.now(timezone.utc)
    alert = Alert.with_fingerprint(labels={"alertname": name}, annotations={}, starts_at=now, ends_at=now,
                                   status="firing", updated_at=now, timeout=False)
    return Notification(id=f"{receiver}-{name}-{uuid.uuid4().hex[:6]}", receiver=receiver, status="firing",
                        group_key=f'{{}}:{{alertname="{name}"}}', common_labels={"alertname": name},
                        alerts=[alert], flush_seq=1, created_at=now, integration="webhook/0")


def send(settings, *notifications: Notification) -> None:
    producer = Producer(durable_config(settings.kafka, 10))
    for n in notifications:
        producer.produce(settings.topic("notifications"), key=n.id.encode(), value=wire.encode(n))
    assert producer.flush(15) == 0


def webhook_ids(requests) -> list[str]:
    return [r.headers.get("webhook-id") or r.get_json()["groupKey"] for r in requests]


def wait_until(condition, worker: Component, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.alive(), worker.log_tail()
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout}s\n{worker.log_tail()}")


def test_503_three_times_then_200_is_delivered_once_after_the_retry_tiers(
        kafka_bootstrap, redis_url, tmp_path, target):
    answers = iter([503, 503, 503])
    delivered = []

    def handler(request):
        status = next(answers, 200)
        if status == 200:
            delivered.append(request.get_json()["groupKey"])
        return Response("busy" if status == 503 else "ok", status=status)

    target.expect_request("/hook").respond_with_handler(handler)
    settings = sink_settings(kafka_bootstrap, redis_url, tmp_path, {"team": target.url_for("/hook")})
    n = notification("team", "Flaky")
    with Component("sink", ["worker", "sink"], settings, tmp_path / "logs") as worker:
        send(settings, n)
        wait_until(lambda: delivered, worker, what="delivery")
        time.sleep(3)  # a second delivery (or a further retry) would arrive in this window
    assert delivered == [n.group_key] and len(target.log) == 4
    assert "Unclosed" not in worker.process.log_file.read_text()  # the lanes' HTTP sessions were closed
    attempts = []
    for tier in ("notifications.retry.5s", "notifications.retry.30s", "notifications.retry.5m"):
        records = wait_for_records(settings, tier, lambda rs: len(rs) >= 1)
        assert [r.key for r in records] == [n.id], tier
        attempts.append(records[0].headers["pipeline.retry.attempts"])
        assert records[0].headers["pipeline.retry.last_error"] == "webhook: HTTP 503 busy"
    assert attempts == ["1", "2", "3"]
    assert list(wait_for_records(settings, "notifications.retry.30m", lambda rs: True)) == []
    assert list(wait_for_records(settings, "notifications.dlq", lambda rs: True)) == []


def test_400_goes_to_the_dlq_with_the_reason_and_replay_delivers_it_once_fixed(
        kafka_bootstrap, redis_url, tmp_path, target):
    fixed = threading.Event()
    delivered = []

    def handler(request):
        if not fixed.is_set():
            return Response('{"error": "unknown field"}', status=400)
        delivered.append(request.get_json()["groupKey"])
        return Response("ok")

    target.expect_request("/hook").respond_with_handler(handler)
    settings = sink_settings(kafka_bootstrap, redis_url, tmp_path, {"team": target.url_for("/hook")})
    n = notification("team", "Refused")
    env = {**os.environ, **settings_env(settings)}
    with Component("sink", ["worker", "sink"], settings, tmp_path / "logs") as worker:
        send(settings, n)
        dlq = wait_for_records(settings, "notifications.dlq", lambda rs: len(rs) >= 1, alive=worker.alive,
                               describe=worker.log_tail)
        assert [r.key for r in dlq] == [n.id] and dlq[0].value == n
        headers = dlq[0].headers
        assert headers["__connect.errors.exception.class.name"] == "PermanentFailure"
        assert headers["__connect.errors.exception.message"] == 'webhook: HTTP 400 {"error": "unknown field"}'
        assert headers["__connect.errors.topic"] == settings.topic("notifications")
        assert headers["pipeline.retry.attempts"] == "1"

        listed = subprocess.run([sys.executable, "-m", "pipeline.cli", "dlq", "list", "--filter", "error=PermanentFailure"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and n.id in listed.stdout, listed.stderr

        fixed.set()
        for _ in range(2):  # a second replay of the same id must not deliver it again
            replayed = subprocess.run([sys.executable, "-m", "pipeline.cli", "dlq", "replay", "--yes",
                                       "--filter", f"id={n.id}"], env=env, capture_output=True, text=True, timeout=60)
            assert replayed.returncode == 0, replayed.stderr
            assert "replayed 1 of 1 notifications" in replayed.stdout
            wait_until(lambda: delivered, worker, what="replayed delivery")
        time.sleep(3)
    assert delivered == [n.group_key]
    assert len(wait_for_records(settings, "notifications.dlq", lambda rs: True)) == 1


def test_a_ten_times_slower_target_does_not_delay_another(kafka_bootstrap, redis_url, tmp_path, target):
    finished = []
    lock = threading.Lock()

    def answer(path: str, seconds: float):
        def handler(request):
            time.sleep(seconds)
            with lock:
                finished.append(path)
            return Response("ok")
        return handler

    target.expect_request("/slow").respond_with_handler(answer("slow", 1.0))
    target.expect_request("/fast").respond_with_handler(answer("fast", 0.1))
    settings = sink_settings(kafka_bootstrap, redis_url, tmp_path,
                             {"slow": target.url_for("/slow"), "fast": target.url_for("/fast")},
                             concurrency_per_target=1)
    slow = [notification("slow", f"S{i}") for i in range(4)]
    fast = [notification("fast", f"F{i}") for i in range(8)]
    with Component("sink", ["worker", "sink"], settings, tmp_path / "logs") as worker:
        send(settings, *[x for pair in zip(slow, fast) for x in pair], *fast[len(slow):])  # interleaved
        wait_until(lambda: len(finished) == 12, worker, timeout=90, what="all deliveries")
    # The slow target needs 4 x 1s one after the other; the fast one's 8 x 0.1s all fit before its second.
    assert finished.index("slow", finished.index("slow") + 1) > max(i for i, p in enumerate(finished) if p == "fast"), finished


def test_kill_9_during_a_delivery_then_restart_the_target_sees_it_once(kafka_bootstrap, redis_url, tmp_path, target):
    arrived, release = threading.Event(), threading.Event()
    seen = []

    def handler(request):
        seen.append(request.get_json()["groupKey"])
        arrived.set()
        release.wait(30)  # the delivery is in flight until the worker is gone
        return Response("ok")

    target.expect_request("/hook").respond_with_handler(handler)
    settings = sink_settings(kafka_bootstrap, redis_url, tmp_path, {"team": target.url_for("/hook")},
                             ledger_lease_s=4)
    n = notification("team", "InFlight")
    worker = Component("sink", ["worker", "sink"], settings, tmp_path / "logs").start()
    try:
        send(settings, n)
        assert arrived.wait(60), worker.log_tail()
        os.kill(worker.process.pid(), signal.SIGKILL)
        release.set()
    finally:
        worker.stop()
    with Component("sink", ["worker", "sink"], settings, tmp_path / "logs-restarted") as restarted:
        dlq = wait_for_records(settings, "notifications.dlq", lambda rs: len(rs) >= 1, alive=restarted.alive,
                               describe=restarted.log_tail, timeout=90)
        assert [r.key for r in dlq] == [n.id]
        assert dlq[0].headers["__connect.errors.exception.class.name"] == "UnknownOutcome"
        later = notification("team", "AfterRestart")  # the restarted worker delivers normally
        send(settings, later)
        wait_until(lambda: later.group_key in seen, restarted, what="delivery after restart")
        time.sleep(3)
    assert seen == [n.group_key, later.group_key]
