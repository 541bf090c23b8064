"""Benchmark: alerts/s into alerts.raw, the NATS JetStream source beside the HTTP bridge, same machine, same run.

    python -m bench.sources [--alerts 60000] [--batches 1,100] [--runs 3] [--bridge-duration 10]

Both write through the same durable path (pipeline.runtime.raw_writer: acks=all, idempotent producer,
batch records per partition) to a Kafka broker of the bench's own, each scenario under a fresh topic
prefix. The alerts are the bridge benchmark's (bench.ingest.alerts: Alertmanager API v2 batches of
realistic, distinct alerts), ``batch`` alerts per NATS message or per HTTP request.

* NATS source: ``--alerts`` alerts (at least 2,000 messages) are published to a JetStream stream first (not timed), then
  ``pipeline sources run`` drains it with one durable consumer (fetch 256 messages, write, ack).
  The window runs from the first message the consumer acked (its alerts stored, acks=all) to the last,
  as the NATS server reports the consumer's ack floor (sampled every 50 ms); alerts/s is the alerts of
  the messages acked in it. Afterwards alerts.raw must hold exactly ``--alerts`` alerts, the source's
  own count must agree, and the consumer must have nothing pending or unacked.
* bridge: ``pipeline bridge`` (1 uvicorn worker), the closed-loop httpx generator of bench.ingest
  (16 connections, 2 s warm-up, ``--bridge-duration`` s window): alerts answered 2xx per second.

Per scenario: the target's CPU (process tree, /proc) and the whole machine's busy share, so busy
neighbours show. Prints markdown and writes bench/sources/RESULTS.md (``--no-write``: don't).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import nats
import nats.js.errors
from nats.js.api import StreamConfig

from bench.ingest.__main__ import _cpu_times, loadavg
from bench.ingest.alerts import Bodies
from bench.ingest.loadgen import run_httpx
from bench.ingest.targets import ProcessCpu, bridge, bridge_settings, create_topics, own_kafka, topic_records
from pipeline.devenv.components import Component, wait_until_ready
from pipeline.devenv.nats import LocalNats
from pipeline.devenv.process import free_port
from pipeline.settings import DevSettings, KafkaSettings, Settings
from tests.integration.bridge_harness import write_sources

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
RECEIVED = re.compile(r'^pipeline_source_alerts_received_total\{kind="stream",source="bench"\} (\S+)$', re.M)


@dataclass
class Measured:
    target: str
    batch: int
    alerts: int
    seconds: float
    cpu_s: float
    machine_busy_pct: float
    check: str

    @property
    def alerts_per_s(self) -> float:
        return self.alerts / self.seconds

    @property
    def cpu_ms_per_1000(self) -> float:
        return 1000.0 * self.cpu_s / self.alerts * 1000.0


class Machine:
    def __init__(self) -> None:
        self._start = _cpu_times()

    def busy_pct(self) -> float:
        busy, total = _cpu_times()
        return 100.0 * (busy - self._start[0]) / max(1, total - self._start[1])


async def publish(url: str, stream: str, subject: str, bodies: Bodies, messages: int) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=stream, subjects=[subject], max_bytes=512 * 1024 ** 2))
        for start in range(0, messages, 500):
            chunk = range(start, min(messages, start + 500))
            await asyncio.gather(*(js.publish(subject, bodies.body(n)) for n in chunk))
    finally:
        await nc.close()


async def delete_stream(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)  # JetStream reserves max_bytes per stream
    finally:
        await nc.close()


async def consumer_progress(url: str, stream: str) -> tuple[int, int, int]:
    """(messages acked, in order from the first; pending; unacked) of the bench's durable consumer, as
    the NATS server reports it: independent of the runner, whose own endpoints share its busy event loop."""
    nc = await nats.connect(url)
    try:
        try:
            info = await nc.jetstream().consumer_info(stream, "pipeline-bench")
        except nats.js.errors.NotFoundError:
            return 0, -1, -1
        return info.ack_floor.stream_seq, info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def received(url: str) -> int:
    """The source's own stored-alert count (its /metrics may answer slowly while it drains)."""
    for _ in range(10):
        try:
            match = RECEIVED.search(httpx.get(f"{url}/metrics", timeout=30).text)
        except httpx.HTTPError:
            continue
        return int(float(match.group(1))) if match else 0
    raise RuntimeError(f"{url}/metrics did not answer")


def nats_scenario(kafka, nats_url: str, workdir: Path, batch: int, alerts: int) -> Measured:
    prefix = f"bsrc{uuid.uuid4().hex[:6]}."
    stream, subject = f"B{uuid.uuid4().hex[:8]}", f"bench.{uuid.uuid4().hex[:8]}"
    base = Settings(kafka=KafkaSettings(bootstrap_servers=kafka.bootstrap))
    raw_topic = create_topics(kafka.bootstrap, prefix, base)
    # At least 2,000 messages: a fetch takes up to 256, so the ack floor moves in several steps.
    messages = max(alerts // batch, 2000)
    alerts = messages * batch
    asyncio.run(publish(nats_url, stream, subject, Bodies(batch), messages))
    directory = write_sources(workdir / f"nats-{prefix}", {"bench": {
        "kind": "stream", "type": "nats", "nats": {"servers": [nats_url], "stream": stream, "subject": subject}}})
    port = free_port()
    settings = base.model_copy(update={
        "topics": base.topics.model_copy(update={"prefix": prefix}),
        "bridge": base.bridge.model_copy(update={"sources_dir": directory}),
        "sources": base.sources.model_copy(update={"port": port}), "log_level": "WARNING"})
    url = f"http://127.0.0.1:{port}"
    with Component("sources", ["sources", "run"], settings, workdir / "logs") as component:
        wait_until_ready(component, f"{url}/healthz")
        cpu = ProcessCpu("sources", component.process.pid())
        deadline = time.monotonic() + 600
        # The window opens at the first acked message (alerts stored, acks=all) and closes when the
        # consumer has acked the last one: every alert of the stream is then on alerts.raw.
        while (first := asyncio.run(consumer_progress(nats_url, stream))[0]) == 0:
            if time.monotonic() > deadline or not component.alive():
                raise RuntimeError(f"the source acked nothing:\n{component.log_tail()}")
            time.sleep(0.05)
        started, machine = time.perf_counter(), Machine()
        cpu.start()
        while (progress := asyncio.run(consumer_progress(nats_url, stream)))[0] < messages:
            if time.monotonic() > deadline or not component.alive():
                raise RuntimeError(f"the source acked {progress[0]} of {messages}:\n{component.log_tail()}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu.stop()
        busy = machine.busy_pct()
        left = progress[1:]
        stored = received(url)
    asyncio.run(delete_stream(nats_url, stream))
    if messages - first < messages // 2:
        raise RuntimeError(f"{first} of {messages} messages were acked before the first sample: raise --alerts")
    on_raw = topic_records(kafka.bootstrap, raw_topic)
    check = ("ok" if on_raw == alerts == stored and left == (0, 0) else
             f"alerts.raw {on_raw}, source says {stored}, consumer (pending, unacked) {left}")
    return Measured("NATS source", batch, (messages - first) * batch, elapsed, cpu.seconds, busy, check)


def bridge_scenario(kafka, workdir: Path, batch: int, duration_s: float) -> Measured:
    prefix = f"bbr{uuid.uuid4().hex[:6]}."
    settings = bridge_settings(kafka.bootstrap, prefix, workdir / prefix, workers=1)
    raw_topic = create_topics(kafka.bootstrap, prefix, settings)
    with bridge(settings, workdir / prefix) as target:
        cpu = ProcessCpu("bridge", target.pid)
        window: dict[str, object] = {}

        def on_window(start: bool) -> None:
            if start:
                cpu.start()
                window["machine"] = Machine()
            else:
                cpu.stop()
                window["busy"] = window["machine"].busy_pct()  # type: ignore[attr-defined]

        result = asyncio.run(run_httpx(target.url, Bodies(batch), concurrency=16, warmup_s=2.0,
                                       duration_s=duration_s, on_window=on_window))
        busy = float(window["busy"])  # type: ignore[arg-type]
    on_raw = topic_records(kafka.bootstrap, raw_topic, settle=True)
    check = "ok" if on_raw >= result.accepted_total else f"alerts.raw {on_raw} < {result.accepted_total} answered 2xx"
    return Measured("bridge (1 worker)", batch, result.accepted_alerts, duration_s, cpu.seconds, busy, check)


def table(rows: list[Measured]) -> list[str]:
    lines = ["| run | target | alerts per message / request | alerts/s | target CPU ms per 1,000 alerts | "
             "machine busy | check |", "| ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for run, row in rows:
        lines.append(f"| {run} | {row.target} | {row.batch} | {row.alerts_per_s:,.0f} | {row.cpu_ms_per_1000:,.0f} | "
                     f"{row.machine_busy_pct:.0f}% | {row.check} |")
    return lines


def summary(rows: list[tuple[int, Measured]]) -> list[str]:
    lines = ["| target | alerts per message / request | alerts/s median (min–max) | CPU ms per 1,000 alerts, median |",
             "| --- | ---: | ---: | ---: |"]
    keys = sorted({(m.target, m.batch) for _, m in rows}, key=lambda k: (k[1], k[0]))
    for target, batch in keys:
        chosen = [m for _, m in rows if (m.target, m.batch) == (target, batch)]
        rates = [m.alerts_per_s for m in chosen]
        lines.append(f"| {target} | {batch} | {statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f}) | "
                     f"{statistics.median(m.cpu_ms_per_1000 for m in chosen):,.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=60000,
                        help="alerts published per NATS scenario (at least 2,000 messages' worth)")
    parser.add_argument("--batches", default="1,100", help="alerts per NATS message / HTTP request")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bridge-duration", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    before = loadavg()
    rows: list[tuple[int, Measured]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        workdir = Path(tmp)
        local_nats = LocalNats(DevSettings(state_dir=workdir / "nats", nats_port=free_port()))
        local_nats.up()
        try:
            with own_kafka(workdir) as kafka:
                for run in range(1, args.runs + 1):
                    for batch in batches:
                        for scenario in ("nats", "bridge"):
                            measured = (nats_scenario(kafka, local_nats.url, workdir, batch, args.alerts)
                                        if scenario == "nats" else
                                        bridge_scenario(kafka, workdir, batch, args.bridge_duration))
                            rows.append((run, measured))
                            print(table([(run, measured)])[-1], flush=True)
        finally:
            local_nats.down()
    after = loadavg()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = [f"# NATS source vs. bridge: alerts/s into alerts.raw ({stamp})", "",
              f"`python -m bench.sources --alerts {args.alerts} --batches {args.batches} --runs {args.runs} "
              f"--bridge-duration {args.bridge_duration:g}`; load average before {before}, after {after}.", "",
              *summary(rows), "", "Every scenario:", "", *table(rows), ""]
    print("\n".join(report))
    if not args.no_write:
        RESULTS.write_text("\n".join(report))


if __name__ == "__main__":
    main()
