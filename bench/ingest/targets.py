"""The processes under test, each started fresh by the harness on free loopback ports.

* ``own_kafka``: a Kafka 3.9.1 broker of its own (pipeline.devenv.kafka.LocalKafka), so that other
  users of the shared broker neither slow the bench down nor show up in its CPU figures.
* ``alertmanager``: Debian's Alertmanager 0.25 with a null receiver and clustering off.
* ``bridge``: ``pipeline bridge`` (uvicorn) with one open ``alertmanager-v2`` source at /api/v2/alerts,
  writing to the bench's own topic prefix.
* ``ProcessCpu``: CPU seconds of a process tree, per thread name, from /proc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from confluent_kafka import Consumer, KafkaException, TopicPartition

from pipeline.devenv.components import Component, wait_until_ready
from pipeline.devenv.kafka import LocalKafka
from pipeline.devenv.process import DevEnvError, free_port
from pipeline.runtime.admin import RDKAFKA_LOGGER, admin_client
from pipeline.settings import DevSettings, KafkaSettings, Settings
from pipeline.topology import load_topology
from pipeline.runtime.topics import apply_topology
from pipeline.wire.batch import items_of
from tests.integration.bridge_harness import write_sources

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_by: [alertname]
receivers:
  - name: "null"
"""
BRIDGE_SOURCES = {"prometheus": {"type": "alertmanager-v2", "auth": "none"}}  # path /api/v2/alerts, no limits
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting -----------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(") ", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def _thread_cpu(pid: int) -> Counter:
    """CPU seconds per thread name (``comm``) of one process."""
    cpu: Counter = Counter()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return cpu
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(") ", 1)[1].split()
        cpu[name] += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return cpu


class ProcessCpu:
    """CPU used by a process tree between ``start()`` and ``stop()``, in total and per thread name."""

    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        self._before: Counter = Counter()
        self.by_thread: Counter = Counter()
        self.seconds = 0.0

    def _sample(self) -> Counter:
        total: Counter = Counter()
        for pid in process_tree(self.pid):
            total.update(_thread_cpu(pid))
        return total

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> None:
        after = self._sample()
        self.by_thread = Counter({k: round(after[k] - self._before.get(k, 0.0), 2) for k in after})
        self.seconds = sum(self.by_thread.values())


# --- Kafka --------------------------------------------------------------------------------------

@dataclass
class Kafka:
    bootstrap: str
    pid: int | None  # None for a broker the bench did not start


@contextmanager
def own_kafka(workdir: Path) -> Iterator[Kafka]:
    dev = DevSettings(state_dir=workdir / "kafka-state", kafka_port=free_port(),
                      kafka_controller_port=free_port(), kafka_heap="512m")
    broker = LocalKafka(dev)
    broker.up()
    try:
        yield Kafka(broker.bootstrap, broker.process.pid())
    finally:
        broker.down()


def create_topics(bootstrap: str, prefix: str, settings: Settings) -> str:
    """Every topic of the topology under ``prefix``; returns the cluster name of alerts.raw."""
    apply_topology(admin_client(bootstrap), load_topology(settings.topics.topology_file), prefix)
    return f"{prefix}alerts.raw"


def topic_records(bootstrap: str, topic: str, settle: bool = False) -> int:
    """Alerts on a topic: the records of every partition, each batch record (pipeline.wire.batch)
    counted as its items.

    Exact here: the producer is idempotent but not transactional (no control records), and nothing
    is deleted by retention during a run. ``settle``: wait until the count stops moving (requests a
    generator abandoned may still be being written).
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "logger": RDKAFKA_LOGGER})
    try:
        count = _count(consumer, topic)
        while settle:
            time.sleep(1.0)
            count, previous = _count(consumer, topic), count
            settle = count != previous
        return count
    finally:
        consumer.close()


def _count(consumer: Consumer, topic: str) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                    for p in partitions}
            break
        except KafkaException:  # a new topic's leaders are not known yet to this client
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    todo = {p: high for p, (low, high) in ends.items() if high > low}
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in todo])
    count = 0
    while todo:
        for message in consumer.consume(1000, 10.0):
            if message.error():
                continue
            count += len(items_of(message.key(), message.value(), message.headers()))
            if message.offset() + 1 >= todo.get(message.partition(), 0):
                todo.pop(message.partition(), None)
    return count


# --- the targets --------------------------------------------------------------------------------

@dataclass
class Target:
    name: str
    url: str     # the ingest endpoint
    pid: int


def alertmanager_version() -> str:
    out = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()


@contextmanager
def alertmanager(workdir: Path) -> Iterator[Target]:
    if not Path(ALERTMANAGER).exists():
        raise DevEnvError(f"{ALERTMANAGER} not found; install it with: apt-get install -y prometheus-alertmanager")
    home = workdir / "alertmanager"
    shutil.rmtree(home, ignore_errors=True)
    (home / "data").mkdir(parents=True)
    (home / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    log = open(home / "alertmanager.log", "wb")
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={home / 'alertmanager.yml'}", f"--storage.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise DevEnvError(f"alertmanager exited:\n{(home / 'alertmanager.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DevEnvError("alertmanager not ready after 30s")
            time.sleep(0.2)
        yield Target("alertmanager", f"{base}/api/v2/alerts", proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def bridge_settings(bootstrap: str, prefix: str, workdir: Path, workers: int) -> Settings:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))
    bridge = settings.bridge.model_copy(update={
        "host": "127.0.0.1", "port": free_port(), "workers": workers,
        "sources_dir": write_sources(workdir / "sources", BRIDGE_SOURCES),
    })
    topics = settings.topics.model_copy(update={"prefix": prefix})
    return settings.model_copy(update={"bridge": bridge, "topics": topics, "log_level": "WARNING"})


@contextmanager
def bridge(settings: Settings, workdir: Path) -> Iterator[Target]:
    workers = settings.bridge.workers
    with Component(f"bridge-w{workers}", ["bridge"], settings, workdir / "logs") as component:
        base = f"http://127.0.0.1:{settings.bridge.port}"
        wait_until_ready(component, f"{base}/readyz")
        if workers > 1:  # every worker must be up, not just the first one that answered
            deadline = time.monotonic() + 60
            while len(process_tree(component.process.pid())) < workers + 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
        yield Target(f"bridge ({workers} worker{'s' if workers > 1 else ''})",
                     f"{base}/api/v2/alerts", component.process.pid())
