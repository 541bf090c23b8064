"""The webhook receiver both targets deliver to: its own process (so neither the load generator nor the
harness shares its GIL), a bare asyncio HTTP/1.1 keep-alive server that answers 200 to every POST.

For each delivered alert it records ``arrival - annotations.sent_at`` under the alert's ``run`` label;
``GET /stats?run=<id>`` returns ``{"deliveries": n, "latencies_ms": [...]}`` for that run.
(tests/integration/pipeline_harness.WebhookCollector is thread-per-connection HTTP/1.0: fine for
tests, but at 1,000 deliveries/s on 2 shared cores it would measure itself.)
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import orjson

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class _State:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.deliveries: dict[str, int] = defaultdict(int)


def _record(state: _State, body: bytes, arrived: float) -> None:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    runs = set()
    for alert in payload.get("alerts", ()):
        run = alert.get("labels", {}).get("run", "?")
        sent = alert.get("annotations", {}).get("sent_at")
        if sent is not None:
            state.latencies[run].append((arrived - float(sent)) * 1000.0)
        runs.add(run)
    for run in runs:
        state.deliveries[run] += 1


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: _State) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length, chunked = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    parts.append(chunk[:-2])
                body = b"".join(parts)
            else:
                body = await reader.readexactly(length) if length else b""
            if method == "POST":
                _record(state, body, arrived)
                writer.write(_OK)
            else:
                query = parse_qs(urlsplit(target).query)
                run = query.get("run", ["?"])[0]
                out = orjson.dumps({"deliveries": state.deliveries.get(run, 0),
                                    "latencies_ms": state.latencies.get(run, [])})
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                             % len(out) + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _main(port_out, ready) -> None:
    async def run() -> None:
        state = _State()
        server = await asyncio.start_server(lambda r, w: _serve(r, w, state), "127.0.0.1", 0, backlog=1024)
        port_out.value = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()
    try:
        import uvloop
        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


class Receiver:
    """``with Receiver() as r: r.url, r.stats(run)``."""

    def __enter__(self) -> Receiver:
        ctx = mp.get_context("spawn")
        self._port, ready = ctx.Value("i", 0), ctx.Event()
        self.process = ctx.Process(target=_main, args=(self._port, ready), daemon=True, name="bench-receiver")
        self.process.start()
        if not ready.wait(30):
            raise RuntimeError("webhook receiver did not start")
        self.url = f"http://127.0.0.1:{self._port.value}"
        return self

    def stats(self, run: str) -> dict:
        import httpx
        return httpx.get(f"{self.url}/stats", params={"run": run}, timeout=30).json()

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.join(10)
