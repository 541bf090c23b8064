"""Where the bridge's time goes: the real ASGI app in-process, writing to the bench broker.

The app is ``pipeline.bridge.server.create_app`` (real sources, real DurableProducer, acks=all) on a
uvloop loop, driven by ``concurrency`` closed-loop callers that invoke the ASGI callable directly with
a minimal scope/receive/send. No HTTP server and no HTTP client are in the loop: what is measured is
the bridge's own per-request work (parsing, models, fingerprints, encoding, producing, awaiting acks);
the real process adds uvicorn's HTTP handling on top. (httpx.ASGITransport would put the client's own,
larger, cost on the same thread and blur the picture, so it is not used.)

Three views:

1. throughput of the app alone, unprofiled;
2. a sampling profile of the event-loop thread (a thread reads the main thread's stack every
   millisecond: little distortion, shares of wall time), with CPU per thread (event loop,
   the producer's ack-poll thread, librdkafka's threads);
3. cProfile of the same (exact call counts; inflates cheap, frequently called Python functions),
   written to ``<profile-dir>/bridge-batch<N>.prof`` for ``python -m pstats``;

plus unprofiled micro-timings, per alert, of the steps the profiles point at.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import pstats
import sys
import threading
import time
import timeit
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from bench.ingest.alerts import Bodies
from bench.ingest.targets import CLK_TCK
from pipeline.settings import Settings


@dataclass
class ProfileResult:
    batch: int
    concurrency: int
    seconds: float
    requests: int
    statuses: Counter
    alerts_per_s_unprofiled: float
    samples: int = 0
    inclusive: list[tuple[str, float]] = field(default_factory=list)   # (label, % of samples)
    self_top: list[tuple[str, float]] = field(default_factory=list)    # (function, % of samples)
    thread_cpu_s: dict[str, float] = field(default_factory=dict)
    cprofile_top: str = ""
    micro_us: list[tuple[str, float]] = field(default_factory=list)    # (step, µs per alert)
    prof_file: str = ""


# --- driving the app ----------------------------------------------------------------------------

def _scope(path: str, body_len: int) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("127.0.0.1", 9093), "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:9093"), (b"content-type", b"application/json"),
                    (b"content-length", str(body_len).encode())],
    }


async def _drive(app, bodies: Bodies, concurrency: int, seconds: float, statuses: Counter) -> int:
    counter = iter(range(1 << 62))
    deadline = time.perf_counter() + seconds
    done = 0

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            body = bodies.body(next(counter))
            sent = False

            async def receive():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # no disconnect while the request runs

            async def send(message):
                if message["type"] == "http.response.start":
                    statuses[message["status"]] += 1

            await app(_scope("/api/v2/alerts", len(body)), receive, send)
            done += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return done


# --- sampling profiler ----------------------------------------------------------------------------

class StackSampler:
    """Samples one thread's Python stack every ``interval`` seconds from a background thread."""

    def __init__(self, thread_id: int, interval: float = 0.001):
        self.thread_id, self.interval = thread_id, interval
        self.samples = 0
        self.self_counts: Counter = Counter()
        self.inclusive_counts: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self.thread_id)
            if frame is None:
                continue
            stack = []
            while frame is not None:
                code = frame.f_code
                stack.append(f"{_short(code.co_filename)}:{code.co_name}")
                frame = frame.f_back
            self.samples += 1
            self.self_counts[stack[0]] += 1
            for name in set(stack):
                self.inclusive_counts[name] += 1

    def __enter__(self) -> StackSampler:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(self.interval / 2)  # let the sampler in on time
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# Inclusive shares reported, outermost first: (label, frame names "file:function" that count).
INCLUSIVE = [
    ("Bridge.ingest — the whole request in the app", ["pipeline/bridge/app.py:ingest"]),
    ("  Bridge._read_body", ["pipeline/bridge/app.py:_read_body"]),
    ("  Bridge._parse → records (fast path: read, normalize, encode)", ["pipeline/bridge/app.py:_parse"]),
    ("    read_fields (labels, annotations, timestamps)", ["pipeline/ingest/formats/alertmanager_alert.py:read_fields"]),
    ("    normalize_fields (per alert)", ["pipeline/ingest/normalize.py:normalize_fields"]),
    ("      check_limits", ["pipeline/ingest/validation.py:check_limits"]),
    ("      validate_alert", ["pipeline/ingest/validation.py:validate_alert"]),
    ("      alert_fingerprint (C FNV-1a via cffi)", ["pipeline/fingerprint.py:alert_fingerprint"]),
    ("    raw_alert_json (RawAlert + wire.encode)", ["pipeline/ingest/records.py:raw_alert_json"]),
    ("  Bridge._write", ["pipeline/bridge/app.py:_write"]),
    ("    DurableProducer._send (produce, one future per request)", ["pipeline/runtime/producer.py:_send"]),
    ("  metrics (prometheus_client)", ["prometheus_client/metrics.py:inc", "prometheus_client/metrics.py:observe",
                                      "prometheus_client/metrics.py:labels"]),
    ("Starlette's own code (self time in starlette/*)", ["self:starlette/"]),
    ("_settle (one per request, via call_soon_threadsafe)", ["pipeline/runtime/producer.py:_settle"]),
    ("idle: in the event loop's C code, nothing Python runnable", ["bench/ingest/profile.py:_run_loop"]),
]


# --- the profile ----------------------------------------------------------------------------------

def _run_loop(loop, coro):  # its own frame, so idle samples (only this frame on the stack) are recognisable
    return loop.run_until_complete(coro)


def profile_bridge(settings: Settings, *, batch: int, concurrency: int, seconds: float,
                   out_dir: Path) -> ProfileResult:
    """Needs the topics of ``settings`` to exist."""
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop  # as under uvicorn
    except ImportError:
        loop_factory = asyncio.new_event_loop
    from pipeline.bridge.server import create_app

    bodies = Bodies(batch)
    app = create_app(settings)
    out: dict = {}
    main_tid = threading.get_ident()

    async def main() -> None:
        async with app.router.lifespan_context(app):  # on exit: the producer flushes and stops
            await _drive(app, bodies, concurrency, 2.0, Counter())  # warm-up: connections, metadata
            t0 = time.perf_counter()
            n = await _drive(app, bodies, concurrency, seconds, Counter())
            out["unprofiled"] = n * batch / (time.perf_counter() - t0)

            statuses: Counter = Counter()
            before = _threads_cpu()
            t0 = time.perf_counter()
            with StackSampler(main_tid) as sampler:
                out["requests"] = await _drive(app, bodies, concurrency, seconds, statuses)
            out["seconds"] = time.perf_counter() - t0
            out["thread_cpu"] = _label_threads(before, _threads_cpu(), sampler_tid=sampler._thread.native_id)
            out["sampler"], out["statuses"] = sampler, statuses

            profiler = cProfile.Profile()
            profiler.enable()
            await _drive(app, bodies, concurrency, min(seconds, 3.0), Counter())
            profiler.disable()
            out["cprofile"] = profiler

    loop = loop_factory()
    try:
        _run_loop(loop, main())
    finally:
        loop.close()

    sampler: StackSampler = out["sampler"]
    total = max(1, sampler.samples)
    def share(names: list[str]) -> float:
        count = 0
        for name in names:
            if name.startswith("self:"):
                count += sum(c for frame, c in sampler.self_counts.items() if frame.startswith(name[5:]))
            else:
                count += sampler.inclusive_counts[name]
        return 100.0 * count / total

    inclusive = [(label, share(names)) for label, names in INCLUSIVE]
    idle = 100.0 * sampler.self_counts["bench/ingest/profile.py:_run_loop"] / total
    inclusive[-1] = (inclusive[-1][0], idle)
    self_top = [(name, 100.0 * c / total) for name, c in sampler.self_counts.most_common(16)]

    out_dir.mkdir(parents=True, exist_ok=True)
    prof_file = out_dir / f"bridge-batch{batch}.prof"
    out["cprofile"].dump_stats(str(prof_file))
    text = io.StringIO()
    pstats.Stats(out["cprofile"], stream=text).sort_stats("tottime").print_stats(15)

    return ProfileResult(
        batch=batch, concurrency=concurrency, seconds=out["seconds"], requests=out["requests"],
        statuses=out["statuses"], alerts_per_s_unprofiled=out["unprofiled"], samples=sampler.samples,
        inclusive=inclusive, self_top=self_top, thread_cpu_s=out["thread_cpu"],
        cprofile_top=_trim_stats(text.getvalue()), micro_us=micro_timings(bodies), prof_file=str(prof_file),
    )


def micro_timings(bodies: Bodies, number: int = 20) -> list[tuple[str, float]]:
    """Unprofiled µs per alert of the bridge's steps for one batch body (timeit with GC on, best of 5).

    The fast path the bridge takes, then the model path it replaced (same validation, same bytes), for
    comparison.
    """
    from pipeline import wire
    from pipeline.fingerprint import alert_fingerprint
    from pipeline.ingest.formats import FORMATS
    from pipeline.ingest.formats.alertmanager_alert import read_fields
    from pipeline.ingest.normalize import normalize_fields
    from pipeline.ingest.records import raw_alert_json
    from pipeline.ingest.validation import check_limits, validate_alert

    body = bodies.body(0)
    payload = orjson.loads(body)
    n = len(payload)
    now = datetime.now(timezone.utc)
    timeout = timedelta(minutes=5)
    fields = [read_fields(item, False) for item in payload]
    normalized = [normalize_fields(*f, now, timeout) for f in fields]
    fmt = FORMATS["alertmanager-v2"]

    def per_alert(stmt) -> float:
        best = min(timeit.Timer(stmt, setup=gc.enable).repeat(number=number, repeat=5))  # GC on, as in the app
        return 1e6 * best / number / n

    def model_path() -> list[bytes]:
        return [wire.encode(a) for a in fmt.parse(payload, source="prometheus", received_at=now,
                                                   resolve_timeout=timeout).alerts]

    return [
        ("orjson.loads (body)", per_alert(lambda: orjson.loads(body))),
        ("alertmanager_v2.parse_records (all below, per alert)", per_alert(
            lambda: fmt.parse_records(payload, source="prometheus", received_at=now, resolve_timeout=timeout,
                                      max_record_bytes=262144))),
        ("  read_fields", per_alert(lambda: [read_fields(item, False) for item in payload])),
        ("  normalize_fields", per_alert(lambda: [normalize_fields(*f, now, timeout) for f in fields])),
        ("    check_limits", per_alert(lambda: [check_limits(f[0], f[1], f[4]) for f in fields])),
        ("    validate_alert", per_alert(lambda: [validate_alert(a.timing.starts_at, a.timing.ends_at, a.labels, f[1])
                                                for a, f in zip(normalized, fields)])),
        ("    alert_fingerprint", per_alert(lambda: [alert_fingerprint(a.labels) for a in normalized])),
        ("  raw_alert_json + key", per_alert(lambda: [(raw_alert_json(a, f[1], None, "prometheus", "alertmanager-v2",
                                                                      now), a.fingerprint.encode())
                                                      for a, f in zip(normalized, fields)])),
        ("before: model path (parse → RawAlert, normalize, fill_gaps → wire.encode)", per_alert(model_path)),
    ]


# --- per-thread CPU -------------------------------------------------------------------------------

def _threads_cpu() -> dict[int, tuple[str, float]]:
    cpu = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(") ", 1)[1].split()
        cpu[int(task.name)] = (stat[stat.index("(") + 1:stat.rindex(")")],
                               (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return cpu


def _label_threads(before: dict, after: dict, sampler_tid: int | None) -> dict[str, float]:
    """CPU seconds per thread over the sampled run, Python threads named by their threading name."""
    python_names = {t.native_id: t.name for t in threading.enumerate()}
    main_tid = threading.main_thread().native_id
    cpu: Counter = Counter()
    for tid, (comm, seconds) in after.items():
        used = seconds - before.get(tid, (comm, 0.0))[1]
        if tid == main_tid:
            label = "event loop (main thread)"
        elif tid == sampler_tid:
            label = "profiler's sampler"
        elif tid in python_names:
            label = f"python thread {python_names[tid]!r}"
        else:
            label = f"librdkafka {comm}" if comm.startswith("rdk:") else comm
        cpu[label] += used
    return {k: round(v, 2) for k, v in cpu.most_common() if v > 0.004}


def _trim_stats(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("ncalls"):
            return "\n".join(lines[i:]).rstrip()
    return text.rstrip()
