"""What the harness watches while the load runs: consumer-group lag of every chain, RSS and CPU of each
process tree (/proc), and py-spy profiles of the bridge and the chain workers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench.ingest.targets import ProcessCpu, process_tree
from pipeline.runtime.admin import RDKAFKA_LOGGER
from pipeline.settings import Settings
from pipeline.topology import load_topology


class LagProbe:
    """Committed offset vs high watermark, summed over the input partitions of each chain's consumer
    group (a chain's group reads its first stage's inputs and, for re-keyed records, the inputs of its
    later stages: ``Chain.inputs()``)."""

    def __init__(self, settings: Settings, chains: tuple[str, ...]):
        topology = {c.name: c for c in load_topology(settings.topics.topology_file).chains()}
        self.chains = chains
        self._consumers: dict[str, tuple[Consumer, list[TopicPartition]]] = {}
        for name in chains:
            chain = topology[name]
            consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers,
                                 "group.id": settings.topics.prefix + chain.consumer_group,
                                 "enable.auto.commit": False, "logger": RDKAFKA_LOGGER})
            partitions = []
            for topic_name in chain.inputs():
                topic = settings.topic(topic_name)
                meta = consumer.list_topics(topic, timeout=10).topics[topic]
                partitions += [TopicPartition(topic, p) for p in meta.partitions]
            self._consumers[name] = (consumer, partitions)

    def sample(self) -> dict[str, int]:
        lags = {}
        for chain, (consumer, partitions) in self._consumers.items():
            committed = consumer.committed(partitions, timeout=10)
            lag = 0
            for tp in committed:
                low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10,
                                                           cached=False)
                lag += high - (tp.offset if tp.offset >= 0 else low)
            lags[chain] = lag
        return lags

    def close(self) -> None:
        for consumer, _ in self._consumers.values():
            consumer.close()


def rss_kib(pid: int, tree: bool = False) -> int:
    """VmRSS of a process (summed over its process tree with ``tree``), KiB."""
    total = 0
    for p in process_tree(pid) if tree else [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class CpuSet:
    """CPU seconds of several named processes over a window."""

    def __init__(self, pids: dict[str, int]):
        self.cpus = {name: ProcessCpu(name, pid) for name, pid in pids.items()}

    def start(self) -> None:
        for c in self.cpus.values():
            c.start()

    def stop(self) -> dict[str, float]:
        for c in self.cpus.values():
            c.stop()
        return {name: c.seconds for name, c in self.cpus.items()}


# --- py-spy -------------------------------------------------------------------------------------

def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def start_py_spy(pids: dict[str, int], seconds: float, out_dir: Path, rate: int = 67) -> dict[str, tuple]:
    binary = py_spy()
    if binary is None:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    running = {}
    for name, pid in pids.items():
        out = out_dir / f"{name}-{uuid.uuid4().hex[:6]}.txt"
        proc = subprocess.Popen([binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate",
                                 str(rate), "--format", "raw", "--nonblocking", "--gil", "--output", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        running[name] = (proc, out)
    return running


def _frame(frame: str) -> str:
    """'func (path/to/module.py:123)' -> 'module.py:func' with the package dir for the pipeline's code."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    if "pipeline" in parts:
        short = "/".join(parts[parts.index("pipeline"):])
    elif "site-packages" in parts:
        short = "/".join(parts[parts.index("site-packages") + 1:][:2])
    else:
        short = Path(path).name
    return f"{short}:{func}"


# Buckets of "where the time goes", by the innermost frame that matches one (most specific listed first).
BUCKETS = [
    # msgspec and librdkafka are C: py-spy (without --native) counts their time for the Python frame that
    # called them, hence our codec and producer modules in these buckets.
    ("codec (pipeline.wire / models / msgspec / pydantic / json)",
     ("pipeline/wire", "pipeline/models", "msgspec", "pydantic", "orjson", "json/", "fastavro")),
    ("Kafka client (our producer, aiokafka, confluent / librdkafka)",
     ("pipeline/runtime/producer", "pipeline/runtime/output", "pipeline/runtime/partitioning", "aiokafka",
      "confluent_kafka", "kafka/")),
    ("tables & changelog (pipeline.runtime.state, faust tables, rocksdb)",
     ("pipeline/runtime/state", "pipeline/runtime/faust_store", "faust/tables", "rocksdict", "rocksdb")),
    ("HTTP delivery / serving (httpx, aiohttp, uvicorn)", ("httpx", "httpcore", "h11", "aiohttp", "uvicorn", "starlette")),
    ("Redis (ledger)", ("redis",)),
    ("faust / mode runtime (streams, agents, events)", ("faust/", "mode/")),
    ("pipeline runtime (chain executor, worker loop)", ("pipeline/runtime/",)),
    ("pipeline stages, pure core, bridge", ("pipeline/",)),
]


def _bucket(frames: list[str]) -> str:
    """The bucket of the innermost frame that belongs to one (time in stdlib/C counts for its caller)."""
    for frame in reversed(frames):
        for label, needles in BUCKETS:
            if any(needle in frame for needle in needles):
                return label
    return "other (asyncio loop, stdlib)"


def summarize_py_spy(running: dict[str, tuple], top: int = 8) -> dict[str, dict]:
    """Per process: samples, share per bucket (inclusive, first match), top self functions."""
    out = {}
    for name, (proc, path) in running.items():
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = b"timeout"
        if not path.exists():
            out[name] = {"error": err.decode(errors="replace")[-300:]}
            continue
        self_count: Counter = Counter()
        buckets: Counter = Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")[1:]  # first item is the thread
            if not frames:
                continue
            total += n
            self_count[_frame(frames[-1])] += n
            buckets[_bucket(frames)] += n
        out[name] = {"samples": total, "file": str(path),
                     "buckets": [(k, 100.0 * v / total) for k, v in buckets.most_common()] if total else [],
                     "self_top": [(k, 100.0 * v / total) for k, v in self_count.most_common(top)] if total else []}
    return out
