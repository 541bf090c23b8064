"""Benchmark: accepted alerts/s and request latency, the ingest bridge against Alertmanager 0.25.

    python -m bench.ingest [--duration 10] [--concurrency 16] [--bridge-workers 1,2] [--batches 1,100]

For each target and batch size, one closed-loop load generator (bench.ingest.loadgen: asyncio +
httpx, HTTP/1.1 keep-alive, ``--concurrency`` senders) posts Alertmanager API v2 batches of distinct,
realistic alerts (bench.ingest.alerts) for ``--warmup`` seconds, then ``--duration`` measured seconds.

Targets, all started by the harness on free loopback ports, one at a time:

* Alertmanager 0.25 (Debian), null receiver, no clustering: ``POST /api/v2/alerts``. It keeps alerts in
  memory only.
* ``pipeline bridge`` with ``--bridge-workers`` uvicorn workers and one open alertmanager-v2 source at
  ``/api/v2/alerts``; it answers 200 only after the broker acknowledged every alert (acks=all,
  idempotent producer). It writes to a Kafka broker of the bench's own (unless ``--bootstrap``), under
  a fresh topic prefix. After every bridge scenario the records that arrived on alerts.raw are
  compared with the alerts answered 2xx (the durability check).

During each measured window the harness samples the CPU of the generator, the target, the broker and
the whole machine (/proc), so a saturated generator or a busy neighbour shows in the figures. When the
bridge is slower than Alertmanager with batches of 100 (or with ``--profile always``), the bridge's
ASGI app is profiled in-process (bench.ingest.profile). Prints markdown and writes
bench/ingest/RESULTS.md (``--no-write``: don't).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bench.ingest.alerts import Bodies
from bench.ingest.loadgen import LoadResult, run_httpx, run_wrk, wrk_available, wrk_version
from bench.ingest.targets import (
    Kafka,
    ProcessCpu,
    Target,
    alertmanager,
    alertmanager_version,
    bridge,
    bridge_settings,
    create_topics,
    own_kafka,
    topic_records,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


# --- machine-wide CPU -------------------------------------------------------------------------

def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])       # without guest (already in user)
    return total - idle, total


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Scenario:
    target: str
    load: LoadResult
    target_cpu: ProcessCpu
    kafka_cpu: ProcessCpu | None
    machine_busy_pct: float = 0.0     # of all cores, during the window
    loadavg_after: str = ""
    durability: str = ""              # bridge only

    @property
    def others_pct(self) -> float:
        """Machine CPU not used by generator, target or broker: neighbours (2 cores = 200%)."""
        ours = self.load.generator_cpu_s + self.target_cpu.seconds + (self.kafka_cpu.seconds if self.kafka_cpu else 0)
        return max(0.0, self.machine_busy_pct - 100.0 * ours / self.load.window_s)


@dataclass
class Run:
    started: datetime
    args: argparse.Namespace
    versions: dict[str, str]
    loadavg_before: str
    scenarios: list[Scenario] = field(default_factory=list)
    durability_ok: bool = True
    profile: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def measure(target: Target, kafka: Kafka | None, generator: str, batch: int, args) -> Scenario:
    target_cpu = ProcessCpu(target.name, target.pid)
    kafka_cpu = ProcessCpu("kafka", kafka.pid) if kafka and kafka.pid else None
    machine: dict[str, tuple[float, float]] = {}

    def on_window(start: bool) -> None:
        for cpu in (target_cpu, kafka_cpu):
            if cpu:
                (cpu.start if start else cpu.stop)()
        machine["start" if start else "stop"] = _cpu_times()

    bodies = Bodies(batch, distinct=args.distinct)
    if generator == "wrk":
        load = run_wrk(target.url, bodies, concurrency=args.concurrency, warmup_s=args.warmup,
                       duration_s=args.duration, on_window=on_window)
    else:
        load = asyncio.run(run_httpx(target.url, bodies, concurrency=args.concurrency, warmup_s=args.warmup,
                                     duration_s=args.duration, on_window=on_window))
    (b0, t0), (b1, t1) = machine["start"], machine["stop"]
    busy_pct = 100.0 * (b1 - b0) / max(1, t1 - t0) * os.cpu_count()
    return Scenario(target.name, load, target_cpu, kafka_cpu, busy_pct, loadavg())


def _progress(scenario: Scenario) -> None:
    load = scenario.load
    print(f"  {scenario.target:<22} {load.generator:<5} batch {load.batch:>3}: {load.alerts_per_s:>9,.0f} alerts/s "
          f"{load.req_per_s:>8,.0f} req/s  p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:6.2f} ms  "
          f"errors {sum(load.errors.values())}  | cpu: generator {load.generator_cpu_pct:.0f}% "
          f"target {100 * scenario.target_cpu.seconds / load.window_s:.0f}% "
          + (f"kafka {100 * scenario.kafka_cpu.seconds / load.window_s:.0f}% " if scenario.kafka_cpu else "")
          + f"others {scenario.others_pct:.0f}%  load {scenario.loadavg_after}", flush=True)


# --- the run ------------------------------------------------------------------------------------

def run(args) -> Run:
    started = time.monotonic()
    versions = {
        "python": platform.python_version(),
        "alertmanager": alertmanager_version(),
        "kafka broker": "3.9.1 (pipeline.devenv.kafka.LocalKafka)" if not args.bootstrap else f"{args.bootstrap} (shared)",
        "wrk": wrk_version() if wrk_available() else "not installed",
        **{name: metadata.version(name) for name in ("uvicorn", "uvloop", "httptools", "starlette", "pydantic",
                                                     "orjson", "confluent-kafka", "httpx")},
    }
    import confluent_kafka
    versions["librdkafka"] = confluent_kafka.libversion()[0]
    result = Run(datetime.now(timezone.utc), args, versions, loadavg())
    print(f"load average before: {result.loadavg_before}; {os.cpu_count()} cores", flush=True)

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        if args.bootstrap:
            kafka = Kafka(args.bootstrap, None)
        else:
            t = time.monotonic()
            kafka = stack.enter_context(own_kafka(workdir))
            print(f"kafka broker up at {kafka.bootstrap} in {time.monotonic() - t:.1f}s", flush=True)
        # Every target runs for the whole run, idle but for the one measured: each scenario is measured
        # right next to its counterpart on the other target, so a neighbour's load that comes and goes
        # hits both alike.
        targets: list[tuple[Target, str | None]] = [(stack.enter_context(alertmanager(workdir)), None)]
        prefix = f"bench-ingest-{uuid.uuid4().hex[:8]}-"
        settings = None
        for workers in args.bridge_workers:
            settings = bridge_settings(kafka.bootstrap, prefix, workdir / f"bridge-w{workers}", workers)
            raw_topic = create_topics(kafka.bootstrap, prefix, settings)
            targets.append((stack.enter_context(bridge(settings, workdir / f"bridge-w{workers}")), raw_topic))
        print("targets up: " + ", ".join(f"{t.name} at {t.url}" for t, _ in targets), flush=True)

        for generator in args.generators:
            for batch in args.batches:
                for target, raw_topic in targets:
                    if raw_topic is None:
                        scenario = measure(target, kafka, generator, batch, args)
                        _progress(scenario)
                    else:
                        before = topic_records(kafka.bootstrap, raw_topic)
                        scenario = measure(target, kafka, generator, batch, args)
                        written = topic_records(kafka.bootstrap, raw_topic,
                                                settle=bool(scenario.load.abandoned_alerts)) - before
                        scenario.durability = _durability(scenario.load, written)
                        result.durability_ok &= scenario.durability.startswith("ok")
                        _progress(scenario)
                        print(f"    durability: {scenario.durability}", flush=True)
                    result.scenarios.append(scenario)

        result.notes += _observations(result)
        if settings is not None and args.profile != "never":
            result.profile = _maybe_profile(result, settings, args)
    result.wall_s = time.monotonic() - started
    return result


def _durability(load: LoadResult, written: int) -> str:
    """Records on alerts.raw against alerts answered 2xx during the scenario (warm-up + window + drain).

    Exact for the httpx generator (it drains). wrk abandons the requests in flight when it stops,
    and a request that was not answered 2xx may still have been stored (at-least-once), so there the
    records must lie between the 2xx alerts and that plus the unanswered and non-2xx ones.
    """
    unsure = (load.sent_total - load.accepted_total) + load.abandoned_alerts
    if written == load.accepted_total and not unsure:
        return f"ok: {written:,} records on alerts.raw = {load.accepted_total:,} alerts answered 2xx"
    if load.accepted_total <= written <= load.accepted_total + unsure:
        return (f"ok: {written:,} records on alerts.raw ≥ {load.accepted_total:,} alerts answered 2xx "
                f"(+{written - load.accepted_total:,} of {unsure:,} alerts in requests abandoned in flight by "
                f"{load.generator} or answered non-2xx)")
    return (f"MISMATCH: {written:,} records on alerts.raw, {load.accepted_total:,} alerts answered 2xx, "
            f"{unsure:,} alerts unanswered or non-2xx")


def _maybe_profile(result: Run, settings, args) -> list:
    from bench.ingest.profile import profile_bridge

    def best(prefix: str, batch: int) -> float:
        rates = [s.load.alerts_per_s for s in result.scenarios if s.target.startswith(prefix) and s.load.batch == batch]
        return max(rates, default=0.0)

    batch = max(args.batches)
    slower = best("bridge", batch) < best("alertmanager", batch)
    if args.profile == "auto" and not slower:
        result.notes.append(f"bridge not slower than Alertmanager with batches of {batch}: profile skipped "
                            "(--profile always to run it)")
        return []
    print(f"profiling the bridge app in-process, batch {batch} "
          f"({'slower than Alertmanager' if slower else '--profile always'})", flush=True)
    return [profile_bridge(settings, batch=batch, concurrency=args.concurrency, seconds=args.profile_seconds,
                           out_dir=Path(args.profile_dir))]


# --- output -------------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def markdown(result: Run) -> str:
    args = result.args
    lines = [
        f"# Ingest benchmark: bridge vs Alertmanager 0.25 — {result.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"`python -m bench.ingest --duration {args.duration:g} --warmup {args.warmup:g} --concurrency "
        f"{args.concurrency} --bridge-workers {','.join(map(str, args.bridge_workers))} --batches "
        f"{','.join(map(str, args.batches))}` — closed loop, HTTP/1.1 keep-alive over loopback, "
        f"the same generator(s) ({', '.join(args.generators)}) for every target; {args.distinct:,} distinct alerts (6 labels, "
        "2 annotations) cycled. The bridge answers 2xx only after acks=all; Alertmanager keeps alerts in memory.",
        "",
        "| target | generator | batch size | concurrency | req/s | alerts/s | p50 ms | p99 ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in result.scenarios:
        load = s.load
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(load.errors.items(), key=str)) or "0"
        lines.append(f"| {s.target} | {load.generator} | {load.batch} | {load.concurrency} | {load.req_per_s:,.0f} | "
                     f"{load.alerts_per_s:,.0f} | {_ms(load.p50_ms)} | {_ms(load.p99_ms)} | {errors} |")
    lines += ["", *verdict(result)]
    lines += [
        "",
        f"CPU during each measured window ({os.cpu_count()} cores = 200%; 'others' is the machine's busy time "
        "not used by generator, target or broker, i.e. neighbours):",
        "",
        "| target | generator | batch | generator CPU | target CPU | kafka CPU | others | target CPU ms / 1k alerts | load avg after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in result.scenarios:
        w = s.load.window_s
        per_k = 1000.0 * 1000.0 * (s.target_cpu.seconds + (s.kafka_cpu.seconds if s.kafka_cpu else 0)) / max(1, s.load.accepted_alerts)
        kafka = f"{100 * s.kafka_cpu.seconds / w:.0f}%" if s.kafka_cpu else "—"
        lines.append(f"| {s.target} | {s.load.generator} | {s.load.batch} | {s.load.generator_cpu_pct:.0f}% | "
                     f"{100 * s.target_cpu.seconds / w:.0f}% | {kafka} | {s.others_pct:.0f}% | {per_k:.1f} | {s.loadavg_after} |")
    lines += ["", "Target CPU per 1k alerts includes the broker for the bridge.", ""]
    bridge_threads = [s for s in result.scenarios if s.target.startswith("bridge")]
    if bridge_threads:
        lines += ["Bridge CPU by thread during the window (seconds; `python*` = event loop + ack-poll thread, "
                  "`rdk:*` = librdkafka):", ""]
        for s in bridge_threads:
            threads = ", ".join(f"{k} {v:.1f}" for k, v in s.target_cpu.by_thread.most_common() if v >= 0.05)
            lines.append(f"- {s.target}, {s.load.generator}, batch {s.load.batch}: {threads}")
        lines.append("")
    lines += ["## Durability check (records on the bench's alerts.raw vs alerts answered 2xx)", ""]
    for s in bridge_threads:
        lines.append(f"- {s.target}, {s.load.generator}, batch {s.load.batch}: {s.durability}")
    lines.append("")
    for p in result.profile:
        lines += _profile_markdown(p)
    lines += ["## Machine and versions", "",
              f"- {platform.platform()}, {os.cpu_count()} cores; load average before the run {result.loadavg_before}, "
              f"after {loadavg()}",
              *[f"- {k}: {v}" for k, v in result.versions.items()],
              f"- harness wall time: {result.wall_s:.0f}s", ""]
    if result.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    return "\n".join(lines)


def _observations(result: Run) -> list[str]:
    notes = []
    saturated = [s for s in result.scenarios if s.load.generator == "httpx" and s.load.generator_cpu_pct >= 80]
    if saturated:
        rows = ", ".join(f"{s.target} batch {s.load.batch} ({s.load.generator_cpu_pct:.0f}%)" for s in saturated)
        notes.append(f"The httpx generator saturated its core (≥80% CPU) in: {rows}. Those rows measure the "
                     "generator, not the target; the wrk rows (same bodies, same targets) do not have that limit.")
    others = [s.others_pct for s in result.scenarios]
    if others:
        notes.append(f"Neighbours (other processes on the machine) used {min(others):.0f}–{max(others):.0f}% "
                     f"(mean {sum(others) / len(others):.0f}%) of the {100 * os.cpu_count()}% during the windows: "
                     "absolute figures are lower than on an idle machine; the targets were measured "
                     "interleaved, so the comparison is fairer than the absolute numbers.")
    return notes


def verdict(result: Run) -> list[str]:
    """The issue's target: at least Alertmanager's alerts/s with batches of the largest size."""
    batch = max(result.args.batches)
    lines = []
    for generator in result.args.generators:
        rows = [s for s in result.scenarios if s.load.generator == generator and s.load.batch == batch]
        am = next((s for s in rows if s.target == "alertmanager"), None)
        if am is None or not am.load.alerts_per_s:
            continue
        parts = [f"{s.target} {s.load.alerts_per_s:,.0f} ({s.load.alerts_per_s / am.load.alerts_per_s:.0%})"
                 for s in rows if s.target != "alertmanager"]
        best = max((s.load.alerts_per_s for s in rows if s.target != "alertmanager"), default=0.0)
        met = "**met**" if best >= am.load.alerts_per_s else "**not met**"
        lines.append(f"- Target (batch {batch}, {generator}): {met} — Alertmanager {am.load.alerts_per_s:,.0f} "
                     f"alerts/s; " + ", ".join(parts))
    return lines


def _profile_markdown(p) -> list[str]:
    per_alert_us = 1e6 / p.alerts_per_s_unprofiled if p.alerts_per_s_unprofiled else float("nan")
    lines = [
        f"## Profile: the bridge's ASGI app in-process, batch {p.batch}, concurrency {p.concurrency}",
        "",
        "Real app (`create_app`: sources, DurableProducer with acks=all, bench broker) on uvloop, called "
        "directly as ASGI: no HTTP server, no HTTP client in the process (bench/ingest/profile.py).",
        "",
        f"- Unprofiled: **{p.alerts_per_s_unprofiled:,.0f} alerts/s** ({per_alert_us:.0f} µs per alert) on one "
        "event loop — the ceiling of one bridge worker before uvicorn's HTTP handling is added.",
        f"- Sampled run: {p.requests} requests ({dict(p.statuses)}) in {p.seconds:.1f}s, {p.samples:,} stack samples "
        "of the event-loop thread.",
        "- CPU by thread during the sampled run (s): " + ", ".join(f"{k} {v}" for k, v in p.thread_cpu_s.items()),
        "",
        "| where the event-loop thread is (inclusive, sampled) | % of wall time |",
        "| --- | ---: |",
    ]
    for label, pct in p.inclusive:
        indent = len(label) - len(label.lstrip())
        lines.append(f"| {'&nbsp;' * indent}{label.lstrip()} | {pct:.1f}% |")
    lines += ["", "Top functions by own time (sampled; time in C functions counts for the Python caller):", "",
              "| function | % |", "| --- | ---: |"]
    lines += [f"| `{name}` | {pct:.1f}% |" for name, pct in p.self_top]
    lines += ["", "Unprofiled cost per alert of the steps (timeit with GC on, best of 5, one batch body: a best case):", "",
              "| step | µs per alert |", "| --- | ---: |"]
    for label, us in p.micro_us:
        indent = len(label) - len(label.lstrip())
        lines.append(f"| {'&nbsp;' * indent}{label.lstrip()} | {us:.1f} |")
    lines += ["", f"cProfile, top by own time (call counts exact, times inflated for small Python functions; "
              f"full profile: `python -m pstats {p.prof_file}`):", "", "```", p.cprofile_top, "```", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each window")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop senders (keep-alive connections)")
    parser.add_argument("--bridge-workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2],
                        help="comma-separated uvicorn worker counts to run the bridge with (default 1,2)")
    parser.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 100],
                        help="comma-separated alerts per request (default 1,100)")
    parser.add_argument("--generators", type=lambda s: s.split(","),
                        default=["httpx", "wrk"] if wrk_available() else ["httpx"],
                        help="comma-separated load generators, each run against every target (httpx, wrk; "
                             "default both when wrk is installed)")
    parser.add_argument("--distinct", type=int, default=100_000, help="distinct alerts (fingerprints) cycled")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one (its CPU is not sampled)")
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto",
                        help="profile the bridge app when it is slower than Alertmanager with the largest batch")
    parser.add_argument("--profile-seconds", type=float, default=5.0)
    parser.add_argument("--profile-dir", default=str(Path(tempfile.gettempdir()) / "bench-ingest-profile"),
                        help="where the .prof file (pstats) is written")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(HERE.parent.parent)}")
    args = parser.parse_args(argv)

    result = run(args)
    text = markdown(result)
    print()
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"written to {RESULTS}")
    return 0 if result.durability_ok else 1


if __name__ == "__main__":
    sys.exit(main())
