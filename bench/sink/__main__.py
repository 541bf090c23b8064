"""``python -m bench.sink [--count N] [--targets T]``: one sink worker (a real ``pipeline worker sink``
process) delivering N notifications to T fake webhook receivers on a local uvicorn server.

Figures, never assertions:
- deliveries/s: N divided by the time from the first to the last delivery the fake target received;
- latency added by the sink stage: target receive time minus the notification's produce time (the
  Kafka hop into the sink, decoding, the ledger's two Redis writes, the HTTP call), p50 / p99;
- CPU per delivery: the worker process's CPU time (user + system, all its threads, from
  ``/proc/<pid>/stat``) from the first notification produced to the last one received, over N.
  At a paced rate this includes the worker's idle ticks (a fair "cost at that rate"); in a burst it
  is the saturated cost.

Needs the broker and Redis (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL as for the tests).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import uvicorn
import yaml
from confluent_kafka import Producer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pipeline import wire
from pipeline.devenv.components import Component
from pipeline.runtime.admin import admin_client
from pipeline.models import Alert, Notification
from pipeline.runtime.producer import durable_config
from pipeline.settings import KafkaSettings, RedisSettings, Settings, SinkSettings, TopicSettings, WorkerSettings
from pipeline.topology import load_topology
from pipeline.runtime.topics import apply_topology


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeWebhook:
    """Answers 200 at once and records when each notification (by its unique group key) arrived."""

    def __init__(self):
        self.received: dict[str, float] = {}
        self.duplicates = 0
        self.port = free_port()

        async def hook(request: Request):
            nid = orjson.loads(await request.body())["groupKey"]  # unique per benchmark notification
            if nid in self.received:
                self.duplicates += 1
            self.received.setdefault(nid, time.time())
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/hook/{n}", hook, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *_):
        self.server.should_exit = True
        self.thread.join(10)


def notification(receiver: str, i: int) -> Notification:
    now = datetime.now(timezone.utc)
    alert = Alert.with_fingerprint(labels={"alertname": f"Bench{i}", "instance": f"host{i % 50}"},
                                   annotations={"summary": "benchmark"}, starts_at=now, ends_at=now,
                                   status="firing", updated_at=now, timeout=False)
    return Notification(id=f"bench-{uuid.uuid4().hex}", receiver=receiver, status="firing",
                        group_key=f'{{}}:{{alertname="Bench{i}"}}', alerts=[alert], flush_seq=1,
                        created_at=now, integration="webhook/0")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of process ``pid`` (every thread), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=4, help="webhook receivers (lanes)")
    parser.add_argument("--concurrency", type=int, default=16, help="sink.concurrency_per_target")
    parser.add_argument("--rate", type=float, default=0,
                        help="notifications/s to produce (0: one burst, measures throughput; a rate below "
                        "the throughput measures the latency the stage adds without a backlog)")
    parser.add_argument("--py-spy", metavar="FILE", default="",
                        help="record the worker with py-spy during the timed run (collapsed stacks to FILE; only samples "
                        "holding the GIL, i.e. Python CPU, not time blocked in a syscall)")
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0")

    with FakeWebhook() as target, tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
        tmp_path = Path(tmp)
        receivers = [f"bench{t}" for t in range(args.targets)]
        am = tmp_path / "alertmanager.yml"
        am.write_text(yaml.safe_dump({
            "route": {"receiver": receivers[0]},
            "receivers": [{"name": r, "webhook_configs": [{"url": f"http://127.0.0.1:{target.port}/hook/{r}"}]}
                          for r in receivers]}))
        prefix = f"benchsink{uuid.uuid4().hex[:6]}."
        web_port = free_port()
        settings = Settings(
            kafka=KafkaSettings(bootstrap_servers=bootstrap), redis=RedisSettings(url=redis_url),
            topics=TopicSettings(prefix=prefix), alertmanager_config=am,
            worker=WorkerSettings(data_dir=tmp_path / "state", web_port=web_port),
            sink=SinkSettings(rate_per_target_s=1e6, burst_per_target=100000,
                              concurrency_per_target=args.concurrency, queue_per_target=100000),
            log_level="WARNING")
        report = apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file), prefix)
        assert not report.unresolved, report.unresolved
        with Component("sink", ["worker", "sink"], settings, tmp_path / "logs") as worker:
            # Warm up: the worker joins its group and opens connections before the timed run.
            producer = Producer(durable_config(settings.kafka, 30))
            warm = notification(receivers[0], -1)
            producer.produce(settings.topic("notifications"), key=warm.id.encode(), value=wire.encode(warm))
            producer.flush(30)
            deadline = time.time() + 90
            while warm.group_key not in target.received:
                if time.time() > deadline or not worker.alive():
                    sys.exit("sink worker did not deliver the warm-up notification:\n" + worker.log_tail(60))
                time.sleep(0.1)

            # Built before the clock starts, so producing costs the bench little (it shares the machine).
            batch = [notification(receivers[i % len(receivers)], i) for i in range(args.count)]
            batch = [(n.group_key, n.id.encode(), wire.encode(n)) for n in batch]
            topic = settings.topic("notifications")
            produced: dict[str, float] = {}
            pid = worker.process.pid()
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(["py-spy", "record", "-p", str(pid), "-o", args.py_spy, "--format", "raw",
                                        "--rate", "200", "--nonblocking", "--gil"], stdout=subprocess.DEVNULL)
                time.sleep(1)
            cpu_start, wall_start = cpu_seconds(pid), time.time()
            for i, (group_key, key, value) in enumerate(batch):
                if args.rate:  # on a fixed schedule (no flush per record: linger.ms is 2)
                    time.sleep(max(0.0, wall_start + i / args.rate - time.time()))
                produced[group_key] = time.time()
                producer.produce(topic, key=key, value=value)
                producer.poll(0)
            producer.flush(30)
            deadline = time.time() + 300
            while sum(1 for k in produced if k in target.received) < args.count:
                if time.time() > deadline or not worker.alive():
                    sys.exit(f"only {sum(1 for k in produced if k in target.received)} of {args.count} delivered\n"
                             + worker.log_tail())
                time.sleep(0.05)
            (user_end, sys_end), wall_used = cpu_seconds(pid), time.time() - wall_start
            user_used, sys_used = user_end - cpu_start[0], sys_end - cpu_start[1]
            cpu_used = user_used + sys_used
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            metrics = httpx.get(f"http://127.0.0.1:{web_port}/metrics", timeout=10).text

        times = [target.received[k] for k in produced]
        latencies = [(target.received[k] - produced[k]) * 1000 for k in produced]
        span = max(times) - min(times)
        delivered_total = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                              if line.startswith("sink_delivered_total{"))
        ledger = {name: sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                            if line.startswith(name + " "))
                  for name in ("sink_ledger_round_trips_total", "sink_ledger_writes_total")}
        print(f"notifications: {args.count} to {args.targets} webhook targets, concurrency {args.concurrency} per "
              f"target, {'burst' if not args.rate else f'{args.rate:g}/s'}")
        print(f"deliveries/s: {args.count / span:,.0f} (first to last delivery {span:.2f}s)")
        print(f"added latency ms: p50 {statistics.median(latencies):.1f}  p99 {percentile(latencies, 0.99):.1f}  "
              f"max {max(latencies):.1f}  (produce -> target received; includes the backlog of a burst)")
        print(f"worker CPU: {cpu_used:.2f}s (user {user_used:.2f}, system {sys_used:.2f}) in {wall_used:.2f}s "
              f"({cpu_used / wall_used:.0%} of a core); "
              f"{cpu_used * 1000 / args.count:.3f} ms CPU per delivery")
        if ledger["sink_ledger_round_trips_total"]:
            print(f"ledger: {ledger['sink_ledger_writes_total']:.0f} writes in "
                  f"{ledger['sink_ledger_round_trips_total']:.0f} Redis round trips "
                  f"({ledger['sink_ledger_writes_total'] / ledger['sink_ledger_round_trips_total']:.1f} per trip)")
        print(f"duplicates at the target: {target.duplicates}; sink_delivered_total on /metrics: {delivered_total:.0f}")


if __name__ == "__main__":
    main()
