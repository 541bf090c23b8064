"""The bridge never answers 2xx for an alert the broker has not acknowledged.

The broker is stopped while a sender keeps posting, then restarted. Requests in the outage are
answered 503 with Retry-After within a bounded time; the sender retries them, as Prometheus does.
Afterwards every alert that was ever answered 2xx is in alerts.raw. This test runs its own broker.
"""

import threading
import time
import uuid

import httpx
import orjson

from pipeline.devenv.kafka import LocalKafka
from pipeline.runtime.admin import admin_client
from pipeline.settings import KafkaSettings, Settings, TopicSettings
from pipeline.topology import load_topology
from pipeline.runtime.topics import apply_topology
from tests.conftest import isolated_dev_settings
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import wait_for_records

ACK_TIMEOUT_S = 2.0


class Sender(threading.Thread):
    """Posts one alert per request, retrying each until 2xx; records every answer."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop_after = url, threading.Event()
        self.accepted: list[str] = []
        self.answers: list[tuple[int, float, str | None]] = []  # status, seconds, Retry-After
        self.seq = 0

    def run(self) -> None:
        client = httpx.Client(timeout=ACK_TIMEOUT_S * 4)
        while not self.stop_after.is_set():
            self.seq += 1
            alert_id = f"a{self.seq}"
            body = orjson.dumps([{"labels": {"alertname": "Durable", "alert_id": alert_id}}])
            while True:
                started = time.monotonic()
                try:
                    response = client.post(self.url, content=body, headers={"content-type": "application/json"})
                except httpx.TransportError:
                    self.answers.append((0, time.monotonic() - started, None))
                    time.sleep(0.2)
                    continue
                self.answers.append((response.status_code, time.monotonic() - started,
                                     response.headers.get("retry-after")))
                if response.status_code == 200:
                    self.accepted.append(alert_id)
                    break
                time.sleep(0.3)
            time.sleep(0.02)


def test_broker_outage_gives_503_and_loses_nothing_answered_2xx(tmp_path):
    broker = LocalKafka(isolated_dev_settings(tmp_path / "broker"))
    start = broker.up()
    prefix = f"durable{uuid.uuid4().hex[:6]}."
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=start.bootstrap), topics=TopicSettings(prefix=prefix))
    apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file), prefix)
    try:
        with running_bridge(settings, OPEN_SOURCES, tmp_path / "bridge", ack_timeout_s=ACK_TIMEOUT_S,
                            retry_after_s=1) as bridge:
            sender = Sender(f"{bridge.url}/api/v2/alerts")
            sender.start()
            _wait(lambda: len(sender.accepted) >= 20, "alerts accepted before the outage")

            broker.down()
            outage_started = len(sender.answers)
            _wait(lambda: sum(1 for a in sender.answers[outage_started:] if a[0] == 503) >= 3, "503 answers")
            ready = httpx.get(f"{bridge.url}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["error"] == "unavailable"

            broker.up()
            accepted_before_recovery = len(sender.accepted)
            _wait(lambda: len(sender.accepted) >= accepted_before_recovery + 20, "alerts accepted after restart",
                  timeout=90)
            sender.stop_after.set()
            sender.join(timeout=30)
            assert bridge.component.alive(), bridge.log()

        unavailable = [a for a in sender.answers if a[0] == 503]
        assert unavailable, "the outage must have produced 503 answers"
        for _status, seconds, retry_after in unavailable:
            assert retry_after == "1"
            assert seconds < ACK_TIMEOUT_S * 3, f"503 must come within a bound, took {seconds:.1f}s"
        assert all(status in (200, 503) for status, _, _ in sender.answers), sorted({a[0] for a in sender.answers})

        records = wait_for_records(settings, "alerts.raw",
                                   lambda rs: {r.value.labels["alert_id"] for r in rs} >= set(sender.accepted),
                                   timeout=30)
        stored = {r.value.labels["alert_id"] for r in records}
        missing = set(sender.accepted) - stored
        assert not missing, f"answered 2xx but not stored: {sorted(missing)}"
        print(f"\n{len(sender.accepted)} alerts accepted, {len(unavailable)} answers 503 during the outage, "
              f"{len(records) - len(stored)} duplicate raw records (retries of 503'd requests)")
    finally:
        broker.down()


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
