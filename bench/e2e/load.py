"""Open-loop load: ``rate`` alerts/s for ``duration`` s, in POSTs of ``batch`` alerts (as Prometheus
batches its sends), from ``procs`` generator processes (spawned, so they share no GIL with the harness
or the receiver), each an asyncio + httpx client with up to ``max_in_flight`` requests in flight.

Request ``i`` of a process is due at ``start + i * interval``; a request is sent at its due time, or as
soon as possible if the target is behind (``slip``: how late the last requests left). Every alert is a
new one (a unique ``seq`` label), in group ``g<i mod groups>`` of the run (label ``group``), with the
wall-clock time just before its POST in annotation ``sent_at``: the receiver computes the latency.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue as queue_module
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

SEVERITIES = ["critical", "warning", "warning", "info"]


@dataclass
class LoadResult:
    offered_per_s: float
    duration_s: float
    sent_alerts: int = 0
    ok_alerts: int = 0
    errors: dict = field(default_factory=dict)
    request_ms: list = field(default_factory=list)   # POST latencies (answer − send)
    slip_s: float = 0.0                               # how late the last due request left, at the end
    wall_s: float = 0.0                               # first send to last answer
    generator_cpu_s: float = 0.0

    @property
    def achieved_per_s(self) -> float:
        return self.ok_alerts / self.duration_s


def _body(run: str, first: int, batch: int, groups: int, starts: str, ends: str) -> bytes:
    now = repr(time.time())
    alerts = []
    for seq in range(first, first + batch):
        alerts.append({
            "labels": {"alertname": "BenchE2E", "run": run, "group": f"{run}-g{seq % groups:05d}", "seq": str(seq),
                       "severity": SEVERITIES[seq % 4], "cluster": f"prod-eu-{seq % 3}"},
            "annotations": {"summary": "end-to-end benchmark alert", "sent_at": now},
            "startsAt": starts, "endsAt": ends,
            "generatorURL": "http://prometheus.bench:9090/graph?g0.expr=up%3D%3D0",
        })
    return orjson.dumps(alerts)


async def _generate(url: str, run: str, rate: float, duration: float, batch: int, groups: int, proc: int,
                    procs: int, max_in_flight: int, seq_offset: int = 0) -> LoadResult:
    import httpx

    result = LoadResult(rate, duration)
    per_proc = rate / procs
    interval = batch / per_proc
    n_requests = max(1, round(duration * per_proc / batch))
    now = datetime.now(timezone.utc)
    starts = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ends = (now + timedelta(hours=6)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    gate = asyncio.Semaphore(max_in_flight)
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    cpu0 = sum(os.times()[:2])
    async with httpx.AsyncClient(limits=limits, timeout=60, headers={"Content-Type": "application/json"}) as client:
        async def one(i: int) -> None:
            try:
                first = seq_offset + (i * procs + proc) * batch
                body = _body(run, first, batch, groups, starts, ends)
                t0 = time.perf_counter()
                try:
                    status = (await client.post(url, content=body)).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                result.request_ms.append((time.perf_counter() - t0) * 1000.0)
                result.sent_alerts += batch
                if isinstance(status, int) and 200 <= status < 300:
                    result.ok_alerts += batch
                else:
                    result.errors[str(status)] = result.errors.get(str(status), 0) + 1
            finally:
                gate.release()

        start = time.perf_counter() + proc * interval / procs  # processes interleave their requests
        tasks = []
        for i in range(n_requests):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            result.slip_s = max(0.0, time.perf_counter() - due)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - start
    result.generator_cpu_s = sum(os.times()[:2]) - cpu0
    return result


def _proc_main(queue, *args) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(_generate(*args)))


def offer(url: str, run: str, *, rate: float, duration: float, batch: int = 100, groups: int = 10_000,
          procs: int = 1, max_in_flight: int = 64, on_tick=None, seq_offset: int = 0) -> LoadResult:
    """Run the load to its end (every request answered) and merge the processes' results; ``on_tick()``
    is called about once a second meanwhile."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_proc_main, args=(queue, url, run, rate, duration, batch, groups, p, procs,
                                                     max_in_flight, seq_offset), daemon=True) for p in range(procs)]
    for w in workers:
        w.start()
    parts, deadline = [], time.monotonic() + duration + 300
    while len(parts) < procs:
        try:
            parts.append(queue.get(timeout=1.0))
        except queue_module.Empty:
            if time.monotonic() > deadline:
                raise RuntimeError("load generator did not finish") from None
        if on_tick:
            on_tick()
    for w in workers:
        w.join(10)
    merged = LoadResult(rate, duration)
    for part in parts:
        merged.sent_alerts += part.sent_alerts
        merged.ok_alerts += part.ok_alerts
        for k, v in part.errors.items():
            merged.errors[k] = merged.errors.get(k, 0) + v
        merged.request_ms += part.request_ms
        merged.slip_s = max(merged.slip_s, part.slip_s)
        merged.wall_s = max(merged.wall_s, part.wall_s)
        merged.generator_cpu_s += part.generator_cpu_s
    return merged
