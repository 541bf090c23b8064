"""Benchmark (not a test): the stages' CPU per alert in one process, no Kafka, no HTTP.

    python -m bench.core [--alerts 20000] [--groups 10000] [--repeats 3] [--topology default|split] [--shuffle]

bench/e2e's alerts and routing, taken through the stages' processors (pipeline/stages/*Processor,
built by the composition root from settings as a worker builds them) on the in-memory runtime
(pipeline.runtime.memory) with the chains of ``--topology``: the same ChainExecutor and TableState as
the Kafka runtime, records passed in memory inside a chain, encoded and decoded at every chain
boundary as on Kafka. Alerts go in as the bridge writes them to alerts.raw; the sink is left out (it
needs Redis and a target). Two shapes:

    open   group_wait 0, the group's timer run right after the alert (``wants_tick``, as the Kafka worker
           wakes it): one notification per new group (the storm)
    join   group_wait 5m: alerts join their groups, no flush during the pass (the sustained shape)

Per stage: the CPU of its ``process`` and ``tick`` calls; "runtime" is the rest of the pass: the
chain executor, state checkpoints and changelog records, the codec at chain boundaries (encode and
decode, as between workers), and the decode of each notification into the run's log. Timers other
than the group's wake-up (dedup's expiry scan) do not run during a pass. What it tells: the floor of
CPU per alert for these semantics in this Python code, whatever the deployment.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import yaml

from bench.e2e.__main__ import route
from bench.e2e.load import _body
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.runtime.memory import MemoryRuntime
from pipeline.settings import ClassificationSettings, Settings
from pipeline.stages import build
from pipeline.topology import load_topology
from tests.integration.pipeline_harness import AM_COMPATIBLE_CLASSIFICATION

STAGES = ("normalize", "dedup", "classify", "flapping", "mute", "route", "group")  # every stage but the sink's


def raw_records(n: int, groups: int, now: datetime) -> list[bytes]:
    """alerts.raw values as the bridge writes them, for bench/e2e's alerts."""
    starts = now.isoformat().replace("+00:00", "Z")
    ends = (now + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    out = []
    for first in range(0, n, 100):
        for alert in orjson.loads(_body("core", first, min(100, n - first), groups, starts, ends)):
            out.append(orjson.dumps({**alert, "source": "bench", "source_format": "alertmanager_v2",
                                     "received_at": now.isoformat()}))
    return out


class StageClock:
    """CPU seconds of each processor's ``process`` and ``tick`` calls (the executor calls a chain's next
    stage after ``process`` returned, so the calls do not nest)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn):
        clock, spent = time.process_time, self.spent

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += clock() - t0

        return timed


def settings_for(workdir: Path, topology_file: Path, group_wait: str) -> Settings:
    config = route("http://127.0.0.1:1/bench")
    config["route"]["group_wait"] = group_wait
    am = workdir / f"alertmanager-{group_wait}.yml"
    am.write_text(yaml.safe_dump(config))
    rules = workdir / "classification.yaml"
    rules.write_text(AM_COMPATIBLE_CLASSIFICATION)
    base = Settings()
    return base.model_copy(update={
        "alertmanager_config": am,
        "classification": ClassificationSettings(**{**base.classification.model_dump(), "rules_file": rules}),
        "topics": base.topics.model_copy(update={"topology_file": topology_file}),
    })


def run_once(raws: list[bytes], settings: Settings, flush_each: bool, now: datetime) -> dict[str, float]:
    """CPU seconds per stage (and the runtime's rest) for one pass over ``raws`` with fresh state."""
    topology = load_topology(settings.topics.topology_file)
    processors = build(STAGES, settings, topology)
    stage_clock = StageClock()
    for name, processor in processors.items():
        processor.process = stage_clock.wrap(name, processor.process)
        processor.tick = stage_clock.wrap(name, processor.tick)
    raw_topic = topology.stages["normalize"].inputs["raw"]
    notifications_topic = topology.stages["group"].outputs["notifications"]
    runtime = MemoryRuntime(topology, processors, keep=[notifications_topic])
    notifications = 0
    gc.collect()
    t0 = time.process_time()
    for i, raw in enumerate(raws):
        runtime.send(raw_topic, None, raw, now)
        if flush_each:
            runtime.tick_wanted(now)  # as the worker wakes the group's timer right after the record
        if i % 1000 == 999 or i == len(raws) - 1:
            notifications += len(runtime.take(notifications_topic))  # decoded, as the sink would; bounded
    total = time.process_time() - t0
    runtime.close()
    out = dict(stage_clock.spent)
    out["runtime"] = total - sum(out.values())
    out["_notifications"] = notifications
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n\n")[0])
    p.add_argument("--alerts", type=int, default=20_000)
    p.add_argument("--groups", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--topology", choices=("default", "split"), default="default")
    p.add_argument("--shuffle", action="store_true",
                   help="alerts in a random order (fixed seed): group keys arriving in no particular order, as "
                        "from many senders, rather than bench/e2e's ascending group names")
    args = p.parse_args(argv)
    topology_file = TOPOLOGIES_DIR / f"{args.topology}.yaml"
    chains = load_topology(topology_file).chains()
    now = datetime.now(timezone.utc)
    raws = raw_records(args.alerts, args.groups, now)
    if args.shuffle:
        random.Random(12).shuffle(raws)
    print(f"{args.alerts:,} alerts in {args.groups:,} groups, {args.repeats} passes per shape, topology "
          f"{args.topology}{', shuffled' if args.shuffle else ''}: " + "; ".join("→".join(s.name for s in c.stages) for c in chains if c.name != "sink")
          + "; µs of CPU per alert, median (min–max) of the passes")
    with tempfile.TemporaryDirectory() as tmp:
        for shape, flush_each, group_wait in (("open", True, "0s"), ("join", False, "5m")):
            settings = settings_for(Path(tmp), topology_file, group_wait)
            gc.collect()
            gc.freeze()  # as the workers do (pipeline.runtime.housekeeping): the set-up is not collected over and over
            passes = [run_once(raws, settings, flush_each, now) for _ in range(args.repeats)]
            gc.unfreeze()
            print(f"\nshape {shape}: " + ("group_wait 0, the group's timer woken after the alert: every new group flushed at once"
                                          if flush_each else "group_wait 5m: alerts join groups, nothing flushed"))
            print(f"  notifications per pass: {', '.join(str(int(s['_notifications'])) for s in passes)}")
            for step in (*STAGES, "runtime"):
                values = [spent.get(step, 0.0) / args.alerts * 1e6 for spent in passes]
                print(f"  {step:<10} {statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})")
            totals = [sum(v for k, v in spent.items() if not k.startswith("_")) / args.alerts * 1e6 for spent in passes]
            total = statistics.median(totals)
            print(f"  {'total':<10} {total:7.1f} ({min(totals):.1f}–{max(totals):.1f})"
                  f"  → {1e6 / total:,.0f} alerts/s per core; 10,000 alerts/s would take {10_000 * total / 1e6:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
