"""Benchmark: end-to-end latency, sustained throughput and memory, the pipeline against Alertmanager 0.25.

    python -m bench.e2e [--topology default|split] [--store memory://|rocksdb://] [--repeats 2]
                        [--rates 1000,2000,4000,7000,10000,14000] [--rss-points 100000,250000]
                        [--label "full run"] [--note "what else ran"]

(The exact commands of a full run are at the top of bench/e2e/RESULTS.md.)

One run starts, side by side and for the whole run: a webhook receiver (bench.e2e.receiver, its own
process), Debian's Alertmanager 0.25 (tests.integration.peer_processes) and the whole pipeline — the
bridge plus one worker per chain of the topology (``--topology``: topologies/default.yaml chains
normalize→dedup→classify→mute→route in one worker, then group, then sink; topologies/split.yaml runs
every stage in a chain of its own), each ``pipeline worker <chain>`` as a real process
(tests.integration.pipeline_harness) — on a fresh topic prefix of the broker ``KAFKA_BOOTSTRAP_SERVERS``
(or ``--bootstrap``; without either, a broker of the bench's own as bench.ingest does). Both get the same
routing: ``group_by: [group]``, group_wait 0s, group_interval 5m, one webhook receiver. The load
(bench.e2e.load) is open loop, in POSTs of ``--batch`` alerts (100, as Prometheus batches), from
generator processes of their own; every alert is new and carries its send time. CPU and RSS are read
from /proc per process tree (the bridge, each chain's worker) and summed over all of them.

0. **First alert after start**: as soon as every chain's consumer group is stable (and Alertmanager
   answers), one alert in a new group; time from its POST to its webhook (group_wait 0, so the issue's
   bound is 100 ms), then ``--first-followers`` more single alerts for comparison.
1. **Latency (storm shape)**: 1,000 alerts/s for ``--latency-seconds`` (10 s = 10,000 alerts in 10,000
   groups: every alert opens its group and is delivered at once); receiver arrival minus send time,
   p50/p99, and CPU per 1,000 alerts per process. Then the same at the other ``--latency-rates``
   (default 200/s, 2,000 groups).
2. **Active alerts and RSS**: load up to each of ``--rss-points`` active alerts, let the chains drain,
   read VmRSS of every process tree; per-alert slope and a (labelled) linear extrapolation to 1,000,000.
3. **Profile**: py-spy (if installed in the venv or on PATH) on the bridge and every chain worker during
   ``--profile-rate`` alerts/s; CPU per process per 1,000 alerts from /proc.
4. **Sustained**: step the offered rate up (``--rates``, ``--step-seconds`` each); the pipeline keeps
   up while the summed consumer-group lag of its chains does not grow (least-squares slope over the
   step < 5% of the offered rate) and the bridge answers the offered rate; Alertmanager keeps up while
   it answers the offered rate (≥95%) with p99 POST latency under 1 s. A target's ladder stops at its
   first failed step.

Latency and sustained steps are measured ``--repeats`` times, alternating which target goes first.
Prints markdown and adds it to bench/e2e/RESULTS.md as a new section at the top (``--no-write``: don't;
``--label`` names the run, e.g. "smoke run"). Topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import yaml

from bench.e2e.load import LoadResult, _body, offer
from bench.e2e.probes import CpuSet, LagProbe, py_spy, rss_kib, start_py_spy, summarize_py_spy
from bench.e2e.receiver import Receiver
from bench.ingest.__main__ import _cpu_times, loadavg
from bench.ingest.targets import alertmanager_version, own_kafka
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.settings import WorkerSettings
from pipeline.topology import load_topology
from tests.integration.helpers import drop_topics_with_prefixes, settings_with_topology
from tests.integration.peer_processes import running_alertmanager
from tests.integration.pipeline_harness import chains_of, running_pipeline

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
TARGETS = ("pipeline", "alertmanager")


def route(url: str) -> dict:
    return {
        "route": {"receiver": "bench", "group_by": ["group"], "group_wait": "0s", "group_interval": "5m",
                  "repeat_interval": "4h"},
        "receivers": [{"name": "bench", "webhook_configs": [{"url": url, "send_resolved": False}]}],
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "—"
    med = statistics.median(values)
    fmt = (lambda v: f"{v:,.0f}") if med >= 100 else (lambda v: f"{v:.1f}")
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})" if len(values) > 1 else fmt(med)


@dataclass
class Target:
    name: str
    url: str                       # POST endpoint
    pids: dict[str, int]           # process name -> pid (bridge: its tree)
    active: int = 0                # alerts accepted so far (all distinct, none resolved)


@dataclass
class Bench:
    args: argparse.Namespace
    started: datetime
    versions: dict
    loadavg_before: str
    latency: list = field(default_factory=list)    # dicts
    rss: list = field(default_factory=list)
    ladder: list = field(default_factory=list)
    profile: dict = field(default_factory=dict)
    profile_cpu: dict = field(default_factory=dict)
    latency_cpu: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    machine_busy: list = field(default_factory=list)
    wall_s: float = 0.0
    topology: str = "default"
    chains: dict = field(default_factory=dict)      # chain name -> its stages, in data-flow order
    startup: dict = field(default_factory=dict)     # target -> seconds from spawn to ready
    first: list = field(default_factory=list)       # dicts: the first alerts after start
    top_before: str = ""
    top_after: str = ""
    commit: str = ""
    argv: str = ""                                  # the command line, for RESULTS.md


class Machine:
    """Busy % of the whole machine (all cores = 100% × cores) over a window."""

    def start(self) -> None:
        self._t0 = _cpu_times()

    def stop(self) -> float:
        (b0, t0), (b1, t1) = self._t0, _cpu_times()
        return 100.0 * (b1 - b0) / max(1, t1 - t0) * os.cpu_count()


def wait_drained(lag: LagProbe, timeout: float, quiet: float = 3.0) -> tuple[float, dict]:
    """Until every chain's lag is ~0 (commits lag behind: ≤ 50 records each), then ``quiet`` more seconds."""
    t0 = time.monotonic()
    sample = lag.sample()
    while any(v > 50 for v in sample.values()) and time.monotonic() - t0 < timeout:
        time.sleep(1.0)
        sample = lag.sample()
    took = time.monotonic() - t0
    time.sleep(quiet)
    return took, sample


def run_latency(bench: Bench, target: Target, receiver: Receiver, lag: LagProbe | None, rnd: int,
                rate: float) -> dict:
    args = bench.args
    run = f"lat{rnd}{target.name[:2]}{uuid.uuid4().hex[:4]}"
    expected = int(rate * args.latency_seconds)
    cpu = CpuSet(target.pids)
    machine = Machine()
    cpu.start()
    machine.start()
    load = offer(target.url, run, rate=rate, duration=args.latency_seconds, batch=args.batch,
                 groups=expected, procs=1)
    target.active += load.ok_alerts
    deadline = time.monotonic() + args.latency_drain
    stats = receiver.stats(run)
    while len(stats["latencies_ms"]) < load.ok_alerts and time.monotonic() < deadline:
        time.sleep(1.0)
        stats = receiver.stats(run)
    cpu_s = cpu.stop()
    busy = machine.stop()
    lat = stats["latencies_ms"]
    row = {"target": target.name, "rate": rate, "round": rnd + 1, "sent": load.ok_alerts, "delivered": len(lat),
           "deliveries": stats["deliveries"], "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat, default=float("nan")),
           "post_p99": pct(load.request_ms, 0.99), "errors": load.errors, "machine_busy": busy,
           "cpu_s": cpu_s, "generator_cpu_s": load.generator_cpu_s}
    bench.machine_busy.append(busy)
    print(f"  latency {target.name:<12} {rate:,.0f}/s round {rnd + 1}: {len(lat):,}/{load.ok_alerts:,} delivered "
          f"({stats['deliveries']:,} webhooks)  p50 {row['p50']:.1f} ms  p99 {row['p99']:.1f} ms  max {row['max']:.0f} ms"
          f"  POST p99 {row['post_p99']:.1f} ms  machine busy {busy:.0f}%  errors {load.errors}", flush=True)
    return row


def measure_rss(target: Target) -> dict[str, int]:
    return {name: rss_kib(pid, tree=True) for name, pid in target.pids.items()}


def first_alerts(target: Target, receiver: Receiver, followers: int, timeout: float = 30.0) -> dict:
    """One alert in a group of its own right after start, POST → webhook; then ``followers`` more, one at
    a time (each waits for the one before), to tell a first-alert cost from the steady one."""
    run = f"first{target.name[:2]}{uuid.uuid4().hex[:4]}"
    now = datetime.now(timezone.utc)
    starts = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ends = (now + timedelta(hours=6)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    post_ms: list[float] = []
    for seq in range(1 + followers):
        t0 = time.perf_counter()
        response = httpx.post(target.url, content=_body(run, seq, 1, 1 + followers, starts, ends),
                              headers={"Content-Type": "application/json"}, timeout=30)
        post_ms.append((time.perf_counter() - t0) * 1000.0)
        if response.status_code >= 300:
            raise RuntimeError(f"{target.name}: first alert refused: {response.status_code} {response.text[:200]}")
        deadline = time.monotonic() + timeout
        while len(receiver.stats(run)["latencies_ms"]) <= seq and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the next one is not queued behind this one's delivery
    target.active += 1 + followers
    lat = receiver.stats(run)["latencies_ms"]
    row = {"target": target.name, "first_ms": lat[0] if lat else float("nan"), "followers_ms": lat[1:],
           "delivered": len(lat), "sent": 1 + followers, "post_ms": post_ms}
    rest = f"; the next {len(lat) - 1}: median {statistics.median(lat[1:]):.1f} ms" if len(lat) > 1 else ""
    print(f"  first alert {target.name:<12} POST → webhook {row['first_ms']:.1f} ms (POST answered in "
          f"{post_ms[0]:.1f} ms){rest}; {len(lat)}/{1 + followers} delivered", flush=True)
    return row


def top_snapshot(lines: int = 12) -> str:
    """What else runs on the machine: top's second frame (CPU over 2 s, not since process start)."""
    try:
        out = subprocess.run(["top", "-b", "-c", "-n", "2", "-d", "2", "-o", "%CPU", "-w", "200"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(top failed: {exc})"
    frames = out.split("\ntop - ")
    frame = ("top - " + frames[-1]) if len(frames) > 1 else out
    head, _, procs = frame.partition("\n\n")
    rows = procs.strip().splitlines()
    return "\n".join([head.splitlines()[0], *head.splitlines()[2:4], *rows[:lines + 1]])


def load_to(bench: Bench, target: Target, n: int, run: str, lag: LagProbe | None) -> dict:
    args = bench.args
    missing = n - target.active
    refused: dict = {}
    if missing > 0:
        seconds = missing / args.rss_rate
        load = offer(target.url, run, rate=args.rss_rate, duration=seconds, batch=args.batch, groups=10_000,
                     procs=args.procs, seq_offset=target.active)
        target.active += load.ok_alerts
        refused = load.errors  # POSTs not answered 2xx, by status or exception: their alerts are not active
    drain_s = wait_drained(lag, timeout=args.drain_timeout)[0] if lag else 0.0
    if not lag:
        time.sleep(3.0)
    rss = measure_rss(target)
    print(f"  rss {target.name:<12} at {target.active:,} active alerts (drained in {drain_s:.0f}s): "
          + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in rss.items())
          + f"  total {sum(rss.values()) / 1024:.0f} MiB" + (f"; POSTs refused: {refused}" if refused else ""),
          flush=True)
    return {"target": target.name, "active": target.active, "rss_kib": rss, "drain_s": drain_s, "refused": refused}


def lag_slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope (records/s) of the summed lag."""
    if len(samples) < 3:
        return 0.0
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def run_step(bench: Bench, target: Target, lag: LagProbe | None, rate: float, rnd: int) -> dict:
    args = bench.args
    run = f"st{rnd}{target.name[:2]}{int(rate)}{uuid.uuid4().hex[:4]}"
    samples: list[tuple[float, int]] = []
    per_chain_max: dict[str, int] = {}
    t0 = time.monotonic()

    def tick() -> None:
        if lag is None:
            return
        now = time.monotonic() - t0
        if now < 2.0:   # the first seconds: consumers catch the first records
            return
        s = lag.sample()
        samples.append((now, sum(s.values())))
        for k, v in s.items():
            per_chain_max[k] = max(per_chain_max.get(k, 0), v)

    machine = Machine()
    machine.start()
    load = offer(target.url, run, rate=rate, duration=args.step_seconds, batch=args.batch, groups=10_000,
                 procs=args.procs, on_tick=tick)
    busy = machine.stop()
    target.active += load.ok_alerts
    slope = lag_slope([s for s in samples if s[0] <= args.step_seconds + 1])
    post_p99 = pct(load.request_ms, 0.99)
    answered = load.ok_alerts / max(load.wall_s, args.step_seconds)
    ok = answered >= 0.95 * rate and load.slip_s < 1.0 and not load.errors
    if lag is not None:
        ok = ok and slope < 0.05 * rate
    else:
        ok = ok and post_p99 < 1000.0
    worst = max(per_chain_max, key=per_chain_max.get) if per_chain_max else "—"
    row = {"target": target.name, "round": rnd + 1, "rate": rate, "answered": answered, "slip": load.slip_s,
           "post_p99": post_p99, "lag_slope": slope if lag else None, "lag_end": samples[-1][1] if samples else None,
           "worst_chain": worst, "worst_lag": per_chain_max.get(worst), "ok": ok, "machine_busy": busy,
           "errors": load.errors, "generator_cpu_s": load.generator_cpu_s}
    drain = ""
    if lag is not None:
        took, left = wait_drained(lag, timeout=args.drain_timeout, quiet=1.0)
        row["drain_s"] = took
        drain = f"  drained in {took:.0f}s" + ("" if all(v <= 50 for v in left.values()) else f" (NOT: {left})")
    print(f"  step {target.name:<12} round {rnd + 1} {rate:>7,.0f}/s: answered {answered:>7,.0f}/s  POST p99 "
          f"{post_p99:7.1f} ms  slip {load.slip_s:.2f}s"
          + (f"  lag slope {slope:+8.0f}/s  max lag {worst} {per_chain_max.get(worst, 0):,}" if lag else "")
          + f"  busy {busy:.0f}%  -> {'keeps up' if ok else 'FALLS BEHIND'}{drain}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                   help="broker (default $KAFKA_BOOTSTRAP_SERVERS; none: start one of the bench's own)")
    p.add_argument("--topology", choices=("default", "split"), default="default",
                   help="topologies/<name>.yaml: default chains the stream stages, split runs each on its own")
    p.add_argument("--store", choices=("memory://", "rocksdb://"), default="memory://",
                   help="the workers' table store (worker.store)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--first-followers", type=int, default=4,
                   help="single alerts sent after the first one, one at a time, for comparison")
    p.add_argument("--batch", type=int, default=100, help="alerts per POST")
    p.add_argument("--procs", type=int, default=2, help="generator processes for the sustained and RSS loads")
    p.add_argument("--latency-rates", type=ints, default=[1000, 200],
                   help="offered rates of the latency windows (the first is the target's 1,000/s)")
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--latency-drain", type=float, default=60.0, help="longest wait for the last delivery")
    p.add_argument("--rss-points", type=ints, default=[100_000, 250_000])
    p.add_argument("--rss-rate", type=float, default=4000.0, help="offered alerts/s while loading active alerts")
    p.add_argument("--profile-rate", type=float, default=1000.0)
    p.add_argument("--profile-seconds", type=float, default=12.0)
    p.add_argument("--rates", type=ints, default=[1000, 2000, 4000, 7000, 10000, 14000])
    p.add_argument("--step-seconds", type=float, default=12.0)
    p.add_argument("--drain-timeout", type=float, default=180.0)
    p.add_argument("--skip", default="", help="comma-separated phases to skip: latency,rss,profile,ladder")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--label", default="", help="names the run in RESULTS.md (e.g. 'smoke run')")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the run's notes in RESULTS.md (what else ran on the machine); repeatable")
    args = p.parse_args(argv)
    given = list(argv if argv is not None else sys.argv[1:])
    for i, word in enumerate(given):  # the notes are printed as notes, not in the command line
        if word == "--note" and i + 1 < len(given):
            given[i + 1] = "…"
        elif word.startswith("--note="):
            given[i] = "--note=…"
    command = shlex.join(given)
    skip = set(filter(None, args.skip.split(",")))

    import confluent_kafka
    from importlib import metadata
    versions = {"python": platform.python_version(), "alertmanager": alertmanager_version(),
                "kafka broker": f"{args.bootstrap} (shared)" if args.bootstrap else "own (bench.ingest.targets.own_kafka)",
                "librdkafka": confluent_kafka.libversion()[0],
                **{n: metadata.version(n) for n in ("faust-streaming", "msgspec", "httpx", "aiohttp", "orjson",
                                                     "pydantic", "py-spy") if _installed(n)}}
    bench = Bench(args, datetime.now(timezone.utc), versions, loadavg(), topology=args.topology, argv=command,
                  notes=list(args.note), top_before=top_snapshot(), commit=_commit())
    print(f"load average before: {bench.loadavg_before}; {os.cpu_count()} cores\n{bench.top_before}", flush=True)
    t_start = time.monotonic()
    created: list[tuple[str, str]] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
        bootstrap = args.bootstrap or stack.enter_context(own_kafka(workdir)).bootstrap
        receiver = stack.enter_context(Receiver())
        settings = settings_with_topology(bootstrap, "bench-e2e-", TOPOLOGIES_DIR / f"{args.topology}.yaml")
        created.append((bootstrap, settings.topics.prefix))
        stack.callback(drop_topics_with_prefixes, created)
        chains = chains_of(settings, sink=True)
        bench.chains = {c.name: [st.name for st in c.stages]
                        for c in load_topology(settings.topics.topology_file).chains()}
        t = time.monotonic()
        am = stack.enter_context(running_alertmanager(workdir / "alertmanager", route(receiver.url + "/am")))
        bench.startup["alertmanager"] = time.monotonic() - t
        # The sink's per-target defaults (10 deliveries/s, burst 20, 4 in flight) protect real targets; the
        # bench's one receiver stands for 10,000 groups' worth of targets, so they are lifted here.
        # (Set on the settings: running_pipeline's own ``sink`` argument is the bool "run the sink's chain".)
        settings = settings.model_copy(update={"sink": settings.sink.model_copy(update=dict(
            rate_per_target_s=1_000_000, burst_per_target=100_000, concurrency_per_target=64,
            queue_per_target=100_000))})
        t = time.monotonic()
        pipeline = stack.enter_context(running_pipeline(
            settings, workdir / "pipeline", yaml.safe_dump(route(receiver.url + "/pipeline")), stages=chains,
            worker=WorkerSettings(store=args.store, data_dir=workdir / "pipeline" / "state")))
        bench.startup["pipeline"] = time.monotonic() - t
        print(f"pipeline up in {bench.startup['pipeline']:.1f}s, topology {args.topology}: "
              + "; ".join(f"{name} ({'→'.join(stages)})" for name, stages in bench.chains.items())
              + f" (prefix {settings.topics.prefix}); alertmanager at {am.url} (up in "
              f"{bench.startup['alertmanager']:.1f}s); receiver at {receiver.url}", flush=True)
        pids = {"bridge": pipeline.bridge.component.process.pid(),
                **{name: w.process.pid() for name, w in pipeline.workers.items()}}
        targets = {"pipeline": Target("pipeline", pipeline.url + "/api/v2/alerts", pids),
                   "alertmanager": Target("alertmanager", am.url + "/api/v2/alerts",
                                          {"alertmanager": am.process.pid()})}
        lag = LagProbe(pipeline.settings, chains)
        stack.callback(lag.close)
        lags = {"pipeline": lag, "alertmanager": None}

        # Before anything else reaches them: the first alert after start (group_wait 0).
        print("== first alert after start", flush=True)
        for name in ("pipeline", "alertmanager"):
            bench.first.append(first_alerts(targets[name], receiver, args.first_followers))

        # Warm-up: one alert each, delivered, so connections, caches and JIT-less warm paths are ready.
        for name, target in targets.items():
            run = f"warm{name[:2]}"
            offer(target.url, run, rate=100, duration=1, batch=100, groups=100)
            target.active += 100
            deadline = time.monotonic() + 90
            while len(receiver.stats(run)["latencies_ms"]) < 100 and time.monotonic() < deadline:
                time.sleep(0.5)
        wait_drained(lag, timeout=60)
        rss0 = {name: {"target": name, "active": t.active, "rss_kib": measure_rss(t), "drain_s": 0.0}
                for name, t in targets.items()}
        bench.rss += rss0.values()

        order = lambda rnd: TARGETS if rnd % 2 == 0 else TARGETS[::-1]  # noqa: E731
        if "latency" not in skip:
            print("== latency", flush=True)
            for rate in args.latency_rates:
                for rnd in range(args.repeats):
                    for name in order(rnd):
                        bench.latency.append(run_latency(bench, targets[name], receiver, lags[name], rnd, rate))
                        if lags[name]:
                            wait_drained(lag, timeout=args.drain_timeout, quiet=1.0)
        if "profile" not in skip:
            print("== profile", flush=True)
            target = targets["pipeline"]
            running = start_py_spy(target.pids, args.profile_seconds, workdir / "py-spy")
            if not running:
                bench.notes.append("py-spy not installed in the venv: no stack profile (pip install py-spy)")
            cpu = CpuSet(target.pids)
            cpu.start()
            load = offer(target.url, "prof", rate=args.profile_rate, duration=args.profile_seconds, batch=args.batch,
                         groups=10_000, procs=1, seq_offset=0)
            target.active += load.ok_alerts
            wait_drained(lag, timeout=args.drain_timeout, quiet=0.0)
            bench.profile_cpu = {"alerts": load.ok_alerts, "cpu_s": cpu.stop()}
            bench.profile = summarize_py_spy(running)
            for name, prof in bench.profile.items():
                print(f"  {name}: " + ", ".join(f"{k} {v:.0f}%" for k, v in prof.get("buckets", [])[:4]), flush=True)
        if "rss" not in skip:
            print("== active alerts and RSS", flush=True)
            for n in args.rss_points:
                for name in TARGETS:
                    bench.rss.append(load_to(bench, targets[name], n, f"rss{name[:2]}", lags[name]))
        if "ladder" not in skip:
            print("== sustained rate", flush=True)
            for rnd in range(args.repeats):
                alive = set(TARGETS)
                for rate in args.rates:
                    for name in order(rnd):
                        if name in alive:
                            row = run_step(bench, targets[name], lags[name], rate, rnd)
                            bench.ladder.append(row)
                            if not row["ok"]:
                                alive.discard(name)
                    if not alive:
                        break
            for name in TARGETS:  # one more memory point, after everything
                if lags[name]:
                    wait_drained(lag, timeout=args.drain_timeout, quiet=2.0)
                bench.rss.append({"target": name, "active": targets[name].active,
                                  "rss_kib": measure_rss(targets[name]), "drain_s": 0.0, "after_ladder": True})
        pipeline.check_alive()
    bench.wall_s = time.monotonic() - t_start
    bench.top_after = top_snapshot()
    from bench.e2e.report import markdown, prepend
    text = markdown(bench)
    print()
    print(text)
    if not args.no_write:
        prepend(RESULTS, text)
        print(f"added to the top of {RESULTS}")
    return 0


def _installed(name: str) -> bool:
    from importlib import metadata
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10).stdout.splitlines()
        dirty = [line for line in status if not line.endswith("bench/e2e/RESULTS.md")]  # an earlier run's
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
