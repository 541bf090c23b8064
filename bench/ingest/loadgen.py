"""The load generators; the harness drives every target with the same one(s).

Both are closed loops of ``concurrency`` keep-alive HTTP/1.1 connections, each posting one request,
waiting for its answer and posting the next, for a warm-up and then a measured window:

* ``httpx``: asyncio + httpx in the harness process. Only requests that complete inside the window
  count towards rates and latencies; it drains at the end (every request gets its answer), so every
  2xx is known exactly, which makes the bridge's durability check exact.
* ``wrk``: Debian's wrk (C, epoll, 2 threads) with bench/ingest/wrk.lua, same bodies. Far cheaper per
  request than httpx, so it can still drive a target when httpx saturates its core. wrk stops with
  requests in flight; those are counted as ``abandoned`` (the target may or may not have stored them).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.ingest.alerts import Bodies

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"


@dataclass
class LoadResult:
    generator: str
    batch: int
    concurrency: int
    window_s: float
    requests: int = 0              # completed inside the window, any outcome
    ok_requests: int = 0           # 2xx inside the window
    p50_ms: float = float("nan")   # of the requests completed inside the window
    p99_ms: float = float("nan")
    errors: Counter = field(default_factory=Counter)         # status (or exception name) -> count, window
    accepted_total: int = 0        # alerts of every 2xx answer of the whole run (warm-up + window + drain)
    sent_total: int = 0            # alerts in every request answered (any outcome) during the whole run
    abandoned_alerts: int = 0      # alerts of requests still in flight when the generator stopped (wrk)
    generator_cpu_s: float = 0.0   # CPU the generator used during the window

    @property
    def accepted_alerts(self) -> int:
        return self.ok_requests * self.batch

    @property
    def req_per_s(self) -> float:
        return self.requests / self.window_s

    @property
    def alerts_per_s(self) -> float:
        return self.accepted_alerts / self.window_s

    @property
    def generator_cpu_pct(self) -> float:
        return 100.0 * self.generator_cpu_s / self.window_s


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def run_httpx(url: str, bodies: Bodies, *, concurrency: int, warmup_s: float, duration_s: float,
                    timeout_s: float = 30.0, on_window=None) -> LoadResult:
    """``on_window(start: bool)`` is called when the measured window opens and closes."""
    result = LoadResult("httpx", bodies.batch, concurrency, duration_s)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json"}
    counter = iter(range(1 << 62))
    window_start = time.perf_counter() + warmup_s
    window_end = window_start + duration_s
    stop = asyncio.Event()

    async with httpx.AsyncClient(limits=limits, timeout=timeout_s, headers=headers) as client:
        async def sender() -> None:
            while not stop.is_set():
                body = bodies.body(next(counter))
                t0 = time.perf_counter()
                try:
                    response = await client.post(url, content=body)
                    status: int | str = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                t1 = time.perf_counter()
                ok = isinstance(status, int) and 200 <= status < 300
                result.sent_total += bodies.batch
                if ok:
                    result.accepted_total += bodies.batch
                if window_start <= t1 < window_end:
                    result.requests += 1
                    latencies.append((t1 - t0) * 1000.0)
                    if ok:
                        result.ok_requests += 1
                    else:
                        result.errors[status] += 1

        async def clock() -> None:
            await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
            cpu0 = _own_cpu()
            if on_window:
                on_window(True)
            await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
            result.generator_cpu_s = _own_cpu() - cpu0
            if on_window:
                on_window(False)
            stop.set()

        senders = [asyncio.create_task(sender()) for _ in range(concurrency)]
        await clock()
        await asyncio.gather(*senders)  # drain: every request in flight gets its answer
    result.p50_ms, result.p99_ms = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    return result


# --- wrk ----------------------------------------------------------------------------------------

def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def _wrk(url: str, body_file: Path, tokens: int, *, concurrency: int, threads: int, seconds: float,
         offset: int, timeout_s: float) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", f"--timeout={int(timeout_s)}s",
            "-s", str(WRK_SCRIPT), url, "--", str(threads), str(offset)]
    env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_TOKENS": str(tokens)}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise RuntimeError(f"wrk gave no result (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")


def run_wrk(url: str, bodies: Bodies, *, concurrency: int, warmup_s: float, duration_s: float,
            timeout_s: float = 30.0, on_window=None, threads: int = 2) -> LoadResult:
    """A warm-up wrk run, then the measured one (whole seconds: wrk's -d granularity)."""
    threads = min(threads, concurrency)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(bodies.template)
        runs = []
        if warmup_s > 0:
            runs.append(_wrk(url, body_file, bodies.tokens, concurrency=concurrency, threads=threads,
                             seconds=warmup_s, offset=0, timeout_s=timeout_s))
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # only wrk exits while we measure
        if on_window:
            on_window(True)
        measured = _wrk(url, body_file, bodies.tokens, concurrency=concurrency, threads=threads,
                        seconds=duration_s, offset=1 << 20, timeout_s=timeout_s)
        if on_window:
            on_window(False)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append(measured)

    result = LoadResult("wrk", bodies.batch, concurrency, measured["duration_us"] / 1e6)
    result.generator_cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    statuses = {int(k): v for k, v in measured["statuses"].items()}
    result.requests = measured["requests"]
    result.ok_requests = sum(v for k, v in statuses.items() if 200 <= k < 300)
    result.errors.update({k: v for k, v in statuses.items() if not 200 <= k < 300})
    result.errors.update({f"socket {k}": v for k, v in measured["errors"].items() if v})
    result.p50_ms, result.p99_ms = measured["p50_us"] / 1000.0, measured["p99_us"] / 1000.0
    for run in runs:
        answered = sum(run["statuses"].values())
        ok = sum(v for k, v in run["statuses"].items() if 200 <= int(k) < 300)
        result.accepted_total += ok * bodies.batch
        result.sent_total += answered * bodies.batch
        result.abandoned_alerts += max(0, run["sent"] - answered) * bodies.batch
    return result
