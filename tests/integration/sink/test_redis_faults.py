"""The sink's Redis (delivery ledger, thread memory) going silent: a real Redis paused with CLIENT PAUSE,
and a socket that accepts connections and never answers (a black-holed host).

Wired as the sink wires it (SinkProcessor's deliverer: its client, timeouts, breaker); a scripted connector stands
in for the target. Before the client had timeouts and a breaker, a claim against the black hole never
returned and nothing was logged: every delivery stalled, silently.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import uuid

import pytest
import redis

from pipeline.devenv.redis import LocalRedis
from pipeline.redis_client import BREAKER_STATE
from pipeline.settings import RedisSettings, Settings, SinkSettings, TopicSettings
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.stages.sink import SinkProcessor
from pipeline.topology import load_topology
from tests.conftest import isolated_dev_settings
from tests.unit.delivery.test_lanes import ScriptedConnector, job

pytestmark = pytest.mark.timeout(60)

DOWN = "is not answering"
BACK = "answers again"


def sink_settings(url: str, **redis_knobs) -> Settings:
    knobs = dict(timeout_s=0.3, connect_timeout_s=0.3, breaker_failures=2, breaker_reset_s=0.3) | redis_knobs
    return Settings(redis=RedisSettings(url=url, **knobs), topics=TopicSettings(prefix=f"t{uuid.uuid4().hex[:8]}."),
                    sink=SinkSettings(rate_per_target_s=1000, burst_per_target=1000))


class SentRecords:
    """The runtime's durable writer, as the sink processor sees it: what the deliverer wrote."""

    def __init__(self):
        self.records = []

    async def send(self, port, key, value, headers=()) -> None:
        self.records.append((port, key))


def sink_processor(settings: Settings) -> SinkProcessor:
    processor = SinkProcessor(settings, load_topology(TOPOLOGIES_DIR / "default.yaml"), targets=None)
    processor.output = SentRecords()
    return processor


def lines(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipeline.redis_client" and text in r.getMessage()]


async def wait_for(condition, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own (with its generated password): pausing it disturbs no other test."""
    server = LocalRedis(isolated_dev_settings(tmp_path / "redis"))
    server.up()
    yield server
    server.down()


def test_a_paused_redis_holds_deliveries_loudly_and_they_resume_exactly_once(own_redis, caplog):
    caplog.set_level(logging.INFO, logger="pipeline.redis_client")

    async def scenario():
        runtime = sink_processor(sink_settings(own_redis.url))
        deliverer = await runtime.deliverer()
        target, acked = ScriptedConnector("paused-target"), []
        gauge = BREAKER_STATE.labels("sink")
        try:
            await deliverer.dispatch(job("n0", target, acked))
            await wait_for(lambda: acked == ["n0"], 5, "the first delivery")

            admin = redis.Redis.from_url(own_redis.url)
            admin.execute_command("CLIENT", "PAUSE", 2500, "ALL")  # every command waits 2.5 s
            for i in range(1, 6):
                await deliverer.dispatch(job(f"n{i}", target, acked))
            await wait_for(lambda: lines(caplog, DOWN), 2.0, "one log line saying Redis is down")
            assert gauge._value.get() == 2  # open: counted as down
            assert acked == ["n0"]  # held, not dropped, not delivered without the ledger

            await wait_for(lambda: len(acked) == 6, 10, "every delivery after the pause")
            assert sorted(target.calls) == [f"n{i}" for i in range(6)]  # each exactly once
            assert len(lines(caplog, DOWN)) == 1 and len(lines(caplog, BACK)) == 1
            assert gauge._value.get() == 0
            assert own_redis.password() not in caplog.text
            admin.close()
        finally:
            await runtime.aclose()
    asyncio.run(scenario())


class BlackHole:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self._closed.set()
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_black_holed_redis_is_an_error_within_the_timeouts_not_a_silent_stall(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.redis_client")
    hole = BlackHole()

    async def scenario():
        url = f"redis://:s3cret-in-url@127.0.0.1:{hole.port}/0"
        runtime = sink_processor(sink_settings(url))
        deliverer = await runtime.deliverer()
        target, acked = ScriptedConnector("target"), []
        try:
            for i in range(3):
                await deliverer.dispatch(job(f"n{i}", target, acked))
            await wait_for(lambda: lines(caplog, DOWN), 3.0, "one log line saying Redis is down")
            message = lines(caplog, DOWN)[0]
            assert f"127.0.0.1:{hole.port}" in message and "Deliveries wait for it" in message
            assert "s3cret-in-url" not in caplog.text  # the URL is logged without its password
            assert BREAKER_STATE.labels("sink")._value.get() == 2
            await asyncio.sleep(1.0)  # probes keep failing: still one line, nothing delivered
            assert len(lines(caplog, DOWN)) == 1 and target.calls == [] and acked == []
        finally:
            await deliverer.close(grace_s=0)  # the held deliveries would get the shutdown grace (10 s)
            await runtime.aclose()
    try:
        asyncio.run(scenario())
    finally:
        hole.close()
