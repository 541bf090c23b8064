"""Limits of the Alertmanager API: silence count and size (Alertmanager's --silences.max-silences and
--silences.max-silence-size-bytes), concurrent reads (--web.get-concurrency), and reads that cannot
hold up ingest or silence writes on the shared event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest

from pipeline.amconfig import parse_config
from pipeline.api.handlers import AlertmanagerApi
from pipeline.api.view import ApiView
from pipeline.runtime.raw_writer import RawWriter
from pipeline.bridge.app import Bridge, BridgeConfig, build_app
from pipeline.bridge.sources import Source, SourceRegistry
from tests.unit.api.fakes import AcknowledgingWriter

CONFIG = "route: {receiver: default}\nreceivers: [{name: default}]\n"
ALERTS = orjson.dumps([{"labels": {"alertname": "X"}}])




def make(**api_options):
    view = ApiView(parse_config(CONFIG))
    view.ready.set()
    writer = AcknowledgingWriter(view)
    sources = SourceRegistry([Source(name="prometheus", type="alertmanager-v2", auth="none")])
    bridge = Bridge(BridgeConfig(sources=sources, resolve_timeout=timedelta(minutes=5)),
                    RawWriter(writer, "alerts.raw", "alerts.dlq", None))
    api = AlertmanagerApi(view, writer, "silences", config_text=CONFIG, **api_options)
    return build_app(bridge, api=api), view, writer


def silence(comment: str = "c", name: str = "alertname", value: str = "X", **changes) -> bytes:
    now = datetime.now(timezone.utc)
    return orjson.dumps({"matchers": [{"name": name, "value": value, "isRegex": False}], "createdBy": "t",
                         "comment": comment, "startsAt": now.isoformat(),
                         "endsAt": (now + timedelta(hours=1)).isoformat(), **changes})


def run(scenario):
    async def main():
        app = scenario.app
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge") as client:
            return await scenario(client)
    return asyncio.run(main())


def with_app(app):
    def decorate(function):
        function.app = app
        return function
    return decorate


def test_max_silences_counts_every_kept_silence_and_spares_updates():
    app, view, _ = make(max_silences=3)

    @with_app(app)
    async def scenario(client):
        ids = []
        for i in range(3):
            answer = await client.post("/api/v2/silences", content=silence(value=f"v{i}"))
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["silenceID"])
        # an expired silence still counts until retention drops it, as in Alertmanager
        assert (await client.delete(f"/api/v2/silence/{ids[0]}")).status_code == 200
        refused = await client.post("/api/v2/silences", content=silence(value="v3"))
        assert refused.status_code == 400
        assert refused.json() == "exceeded maximum number of silences: 3 (limit: 3)"
        # updating in place (same matchers, longer end) creates nothing: allowed at the limit
        [current] = [s for s in (await client.get("/api/v2/silences")).json() if s["id"] == ids[1]]
        update = silence(value="v1", id=ids[1], startsAt=current["startsAt"],
                         endsAt=(datetime.now(timezone.utc) + timedelta(hours=3)).isoformat())
        assert (await client.post("/api/v2/silences", content=update)).status_code == 200
        # changing the matchers would replace it by a new silence: refused, and nothing was expired
        replace = silence(value="other", id=ids[2], startsAt=current["startsAt"])
        refused = await client.post("/api/v2/silences", content=replace)
        assert refused.status_code == 400 and "maximum number of silences" in refused.json()
        assert [s["status"]["state"] for s in (await client.get("/api/v2/silences")).json()
                if s["id"] == ids[2]] == ["active"]

    run(scenario)
    assert len(view.silencer) == 3


def test_max_silence_size_bytes():
    app, view, _ = make(max_silence_size_bytes=2048)

    @with_app(app)
    async def scenario(client):
        assert (await client.post("/api/v2/silences", content=silence("x" * 1000))).status_code == 200
        refused = await client.post("/api/v2/silences", content=silence("x" * 3000))
        assert refused.status_code == 400
        assert refused.json().startswith("silence exceeded maximum size: ") and "(limit: 2048 bytes)" in refused.json()

    run(scenario)
    assert len(view.silencer) == 1


class HeldView:
    """Holds the view's lock from another thread (as a long read or the Kafka follower can)."""

    def __init__(self, view: ApiView, safety_s: float = 10.0) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(view, safety_s), daemon=True)

    def _hold(self, view: ApiView, safety_s: float) -> None:
        with view.lock:
            self.held.set()
            self.release.wait(safety_s)  # released by the test; the bound only keeps a failure from hanging

    def __enter__(self) -> HeldView:
        self.thread.start()
        self.held.wait()
        return self

    def __exit__(self, *_exc) -> None:
        self.release.set()
        self.thread.join()


def test_reads_over_the_concurrency_limit_get_503_at_once():
    app, view, _ = make(get_concurrency=2, read_threads=1)

    @with_app(app)
    async def scenario(client):
        with HeldView(view) as held:
            reads = [asyncio.create_task(client.get("/api/v2/alerts")) for _ in range(2)]
            await asyncio.sleep(0.05)
            over = await client.get("/api/v2/silences")
            assert over.status_code == 503 and over.headers["retry-after"] == "1"
            assert over.json() == "Limit of concurrent GET requests reached (2), try again later."
            assert not any(read.done() for read in reads)
            held.release.set()
            assert [(await read).status_code for read in reads] == [200, 200]
        assert (await client.get("/api/v2/silences")).status_code == 200

    run(scenario)


def test_a_read_stuck_on_the_view_holds_up_neither_ingest_nor_the_loop():
    """Before: reads took the view's lock on the event loop, so a read waiting for it froze every
    request of the process. Now ingest answers while the read still waits."""
    app, view, writer = make()

    @with_app(app)
    async def scenario(client):
        with HeldView(view) as held:
            read = asyncio.create_task(client.get("/api/v2/alerts/groups"))
            silence_write = asyncio.create_task(client.post("/api/v2/silences", content=silence()))
            await asyncio.sleep(0.05)
            for _ in range(3):
                ingest = await client.post("/api/v2/alerts", content=ALERTS)
                assert ingest.status_code == 200
            assert (await client.get("/api/v2/status")).status_code == 200  # needs no view lock
            assert not read.done() and not silence_write.done()
            held.release.set()
            assert (await read).status_code == 200
            assert (await silence_write).status_code == 200

    run(scenario)
    assert len(writer.values) == 3


@pytest.mark.parametrize("path", ["/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences"])
def test_a_bad_filter_is_still_a_400_from_the_read_thread(path):
    app, _, _ = make()

    @with_app(app)
    async def scenario(client):
        answer = await client.get(path, params={"filter": "foo"})
        assert answer.status_code == 400 and answer.json() == "bad matcher format: foo"

    run(scenario)
