"""Fixtures of the source tests: a real NATS server with JetStream, and `pipeline sources run` as a process.

NATS, like Kafka in tests/conftest.py: ``NATS_URL`` if set (must answer with JetStream on; CI starts
one with `pipeline dev nats up`), else the project's own nats-server (pipeline.devenv.nats) on a free
port in a temporary directory. Nothing skips: a missing nats-server fails with the command that installs it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats
import pytest
import yaml
from nats.js.api import StreamConfig

from pipeline.devenv import DevEnvError
from pipeline.devenv.components import Component, wait_until_ready
from pipeline.devenv.nats import LocalNats, server_info
from pipeline.devenv.process import free_port
from pipeline.settings import DevSettings, Settings

HOW_TO_FIX_NATS = ("The NATS source tests need nats-server with JetStream: export NATS_URL=nats://host:port of "
                   "one (e.g. after `pipeline dev nats up`: nats://127.0.0.1:14222), or install it "
                   "(apt-get install -y nats-server) so the tests start their own.")


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory) -> Iterator[str]:
    given = os.environ.get("NATS_URL")
    if given:
        parts = urlsplit(given)
        info = server_info(parts.hostname or "127.0.0.1", parts.port or 4222, timeout=5)
        if not info or not info.get("jetstream"):
            pytest.fail(f"NATS_URL={given}: no NATS server with JetStream answers there. {HOW_TO_FIX_NATS}",
                        pytrace=False)
        yield given
        return
    server = LocalNats(DevSettings(state_dir=tmp_path_factory.mktemp("nats"), nats_port=free_port()))
    try:
        seconds = server.up()
    except DevEnvError as exc:
        pytest.fail(f"could not start a local nats-server: {exc}\n{HOW_TO_FIX_NATS}", pytrace=False)
    print(f"\nlocal nats-server ready at {server.url} in {seconds:.2f} s")
    yield server.url
    server.down()


def run_async(coroutine):
    return asyncio.run(coroutine)


# (server, stream) of every stream a test created: deleted when its module ends, so a shared server
# (NATS_URL, the dev server) does not fill up with them; JetStream reserves max_bytes per stream.
CREATED_STREAMS: list[tuple[str, str]] = []


async def _create_stream(url: str, name: str, subjects: list[str]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=name, subjects=subjects, max_bytes=64 * 1024 * 1024))
    finally:
        await nc.close()


def create_stream(url: str, name: str, subjects: list[str]) -> None:
    run_async(_create_stream(url, name, subjects))
    CREATED_STREAMS.append((url, name))


async def _delete_streams(streams: list[tuple[str, str]]) -> None:
    for url, name in streams:
        try:
            nc = await nats.connect(url)
        except Exception:  # noqa: BLE001 - the server is gone already (a per-session one)
            continue
        try:
            await nc.jetstream().delete_stream(name)
        except Exception:  # noqa: BLE001 - already deleted
            pass
        finally:
            await nc.close()


@pytest.fixture(autouse=True, scope="module")
def _drop_test_streams():
    yield
    if CREATED_STREAMS:
        streams = list(CREATED_STREAMS)
        CREATED_STREAMS.clear()
        run_async(_delete_streams(streams))


async def publish_all(url: str, subject: str, payloads: list[bytes], headers: dict[str, str] | None = None) -> None:
    """Publish with JetStream acks (the stream stored each one), in order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        # Bounded concurrency: 200 publishes in flight at a time, awaited in order of sending.
        for start in range(0, len(payloads), 200):
            await asyncio.gather(*(js.publish(subject, payload, headers=headers)
                                   for payload in payloads[start:start + 200]))
    finally:
        await nc.close()


async def consumer_state(url: str, stream: str, durable: str) -> tuple[int, int]:
    """(messages not delivered yet, messages delivered but not acked) of a durable consumer."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


@dataclass
class RunningSources:
    url: str
    settings: Settings
    component: Component

    def log(self, lines: int = 60) -> str:
        return self.component.log_tail(lines)

    def status(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/sources", timeout=5).json()


def write_source_files(directory: Path, sources: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, spec in sources.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, **spec}, sort_keys=False))
    return directory


def sources_settings(settings: Settings, sources_dir: Path, **extra: Any) -> Settings:
    bridge = settings.bridge.model_copy(update={"sources_dir": sources_dir})
    runner = settings.sources.model_copy(update={"host": "127.0.0.1", "port": free_port(), **extra})
    return settings.model_copy(update={"bridge": bridge, "sources": runner})


@contextmanager
def running_sources(settings: Settings, sources: dict[str, dict[str, Any]], workdir: Path,
                    ready: bool = True, name: str = "sources") -> Iterator[RunningSources]:
    """`pipeline sources run` with these source files; waits for /readyz (or only /healthz)."""
    configured = sources_settings(settings, write_source_files(workdir / "source-files", sources))
    component = Component(name, ["sources", "run"], configured, workdir / "logs")
    with component:
        running = RunningSources(f"http://127.0.0.1:{configured.sources.port}", configured, component)
        wait_until_ready(component, f"{running.url}{'/readyz' if ready else '/healthz'}")
        yield running
