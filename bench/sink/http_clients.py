"""``python -m bench.sink.http_clients``: client-side CPU per HTTP request, httpx against aiohttp.

The sink's largest remaining cost is the HTTP client. This measures the client alone: a minimal
HTTP/1.1 server (raw asyncio protocol, keep-alive, answers 200 at once) runs in a child process, and
the client process POSTs a webhook-sized body (~700 bytes) from C concurrent workers, then reports
its own CPU time (``time.process_time``) per request. Variants:

- ``httpx-shared``: one ``httpx.AsyncClient`` for all workers (the sink before: one client, one pool);
- ``httpx-per-worker``: one client per worker (the sink now: httpcore's pool walks all of its
  connections twice per request, so small pools are cheaper);
- ``aiohttp``: one ``aiohttp.ClientSession`` for all workers; ``aiohttp-per-worker``: one per worker;
- ``sender``: one ``connectors.http.AiohttpSender`` per worker (the sink now: aiohttp, the body sent
  as ``json=`` through orjson and the answer wrapped in an ``httpx.Response``).

Figures, never assertions; compare within one run (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import sys
import time

import orjson

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
BODY = b'{"receiver":"bench","status":"firing","alerts":[' + b'"x",' * 170 + b'"x"]}\n'


class _Server(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buffer[:end].split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(RESPONSE)


def _serve(port: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_Server, "127.0.0.1", port)
        await server.serve_forever()
    asyncio.run(main())


async def _run(variant: str, url: str, workers: int, requests: int) -> tuple[float, float]:
    headers = {"Content-Type": "application/json", "User-Agent": "bench"}
    closers = []
    if variant.startswith("httpx"):
        import httpx

        def client(connections: int):
            c = httpx.AsyncClient(limits=httpx.Limits(max_connections=connections,
                                                      max_keepalive_connections=connections))
            closers.append(c.aclose)
            return c

        shared = client(200) if variant == "httpx-shared" else None
        clients = [shared or client(4) for _ in range(workers)]

        async def one(c):
            response = await c.request("POST", url, headers=headers, content=BODY)
            assert response.status_code == 200
    elif variant == "sender":
        from connectors.http import AiohttpSender

        clients = [AiohttpSender(timeout_s=15, connect_timeout_s=5, max_connections=4) for _ in range(workers)]
        closers.extend(c.aclose for c in clients)
        payload = orjson.loads(BODY)

        async def one(c):
            response = await c.request("POST", url, headers=headers, json=payload)
            assert response.status_code == 200
    else:
        import aiohttp

        def session(connections: int):
            s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))
            closers.append(s.close)
            return s

        shared = session(200) if variant == "aiohttp" else None
        clients = [shared or session(4) for _ in range(workers)]

        async def one(c):
            async with c.request("POST", url, headers=headers, data=BODY) as response:
                await response.read()
                assert response.status == 200

    async def worker(c, n):
        for _ in range(n):
            await one(c)

    await asyncio.gather(*(worker(c, 20) for c in clients))  # connections open, code warm
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(c, requests // workers) for c in clients))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for close in closers:
        await close()
    done = requests // workers * workers
    return cpu / done * 1e6, done / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--variants", nargs="+", default=["httpx-shared", "httpx-per-worker", "aiohttp", "aiohttp-per-worker",
                                                        "sender"])
    args = parser.parse_args()
    # httpcore imports sniffio at every lock and event it sets up: without it installed (it is a
    # dependency now), each failed import searches sys.path and the httpx figures come out too high.
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules.setdefault("sniffio", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/hook"
        print(f"{'variant':<18} {'workers':>7} {'us CPU/request':>15} {'requests/s':>11}")
        for workers in args.workers:
            for variant in args.variants:
                cpu_us, rate = asyncio.run(_run(variant, url, workers, args.requests))
                print(f"{variant:<18} {workers:>7} {cpu_us:>15,.0f} {rate:>11,.0f}")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
