"""How much heavy Alertmanager API reads delay ingest on the same bridge process.

    python -m bench.api_reads [--checkout PATH] [--alerts 20000] [--readers 4] [--seconds 15]

Starts the bridge app of bench/api_reads/server.py (from ``--checkout``, default this repository) under
uvicorn in a child process, then probes ``POST /api/v2/alerts`` (one alert) every 20 ms for
``--seconds`` with no other load, and again while ``--readers`` clients loop on
``GET /api/v2/alerts`` (every alert, a multi-megabyte answer) and ``GET /api/v2/alerts/groups``.
Prints the POST latency percentiles of both phases and what the readers got, as a markdown row.
Run it on both checkouts (before: ``git worktree add /tmp/before <commit>``) for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from pipeline.devenv.process import free_port

REPO = Path(__file__).resolve().parents[2]
ALERT = b'[{"labels":{"alertname":"Probe","instance":"probe:1"}}]'


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the bridge exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the bridge did not start")


def probe(url: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(timeout=60) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            answer = client.post(f"{url}/api/v2/alerts", content=ALERT, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
            time.sleep(0.02)
    return latencies


def read_loop(url: str, stop: threading.Event, results: list) -> None:
    with httpx.Client(timeout=120) as client:
        i = 0
        while not stop.is_set():
            path = "/api/v2/alerts" if i % 2 == 0 else "/api/v2/alerts/groups"
            started = time.perf_counter()
            answer = client.get(f"{url}{path}")
            results.append((answer.status_code, len(answer.content), time.perf_counter() - started))
            i += 1


def loop_lag(url: str) -> str:
    """The bridge's event-loop heartbeat histogram (the checkout before the change has none)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    buckets = dict(re.findall(r'^bridge_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M))
    if not buckets:
        return "no heartbeat metric in this checkout"
    total = float(buckets["+Inf"])
    late = {bound: total - float(buckets[bound]) for bound in ("0.1", "0.5", "1.0")}
    return f"{total:.0f} heartbeats, later than 100 ms: {late['0.1']:.0f}, 500 ms: {late['0.5']:.0f}, 1 s: {late['1.0']:.0f}"


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (f"p50 {at(0.5):.1f} ms, p90 {at(0.9):.1f} ms, p99 {at(0.99):.1f} ms, max {ordered[-1] * 1000:.0f} ms"
            f" ({len(values)} posts)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, default=REPO)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{args.checkout}{os.pathsep}{REPO}", "BENCH_ALERTS": str(args.alerts)}
    env.pop("PIPELINE_WEB__CONFIG_FILE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.api_reads.server:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=args.checkout, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        quiet = probe(url, args.seconds)
        stop, reads = threading.Event(), []
        readers = [threading.Thread(target=read_loop, args=(url, stop, reads)) for _ in range(args.readers)]
        for reader in readers:
            reader.start()
        time.sleep(1)
        loaded = probe(url, args.seconds)
        stop.set()
        for reader in readers:
            reader.join()
        lag = loop_lag(url)
    finally:
        server.terminate()
        server.wait(30)
    statuses = sorted({status for status, _, _ in reads})
    sizes = [size for status, size, _ in reads if status == 200]
    read_seconds = [seconds for status, _, seconds in reads if status == 200]
    load = os.getloadavg()
    print(f"checkout {args.checkout} ({args.alerts} alerts, {args.readers} readers, load average "
          f"{load[0]:.1f} {load[1]:.1f})")
    print(f"POST /api/v2/alerts alone:        {percentiles(quiet)}")
    print(f"POST /api/v2/alerts during reads: {percentiles(loaded)}")
    print(f"event loop: {lag}")
    print(f"reads: {len(reads)} answered (statuses {statuses}), median {statistics.median(sizes) / 1e6:.1f} MB "
          f"in {statistics.median(read_seconds):.2f} s" if sizes else f"reads: {len(reads)}, statuses {statuses}")


if __name__ == "__main__":
    main()
