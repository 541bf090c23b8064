"""Real peers (Prometheus, Alertmanager) as child processes on free ports, for the integration tests.

Nothing here skips: a missing binary fails the test with the apt-get command that installs it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipeline.devenv.process import ManagedProcess, free_port

PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
_PACKAGES = {PROMETHEUS_BINARY: "prometheus", ALERTMANAGER_BINARY: "prometheus-alertmanager"}


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed; install it with: apt-get install -y {_PACKAGES.get(name, name)}",
                    pytrace=False)
    return path


@dataclass
class RunningPeer:
    name: str
    url: str
    port: int
    workdir: Path
    process: ManagedProcess

    def alive(self) -> bool:
        return not self.process.exited_early()

    def log(self, lines: int = 40) -> str:
        return f"--- {self.name} log (last {lines} lines) ---\n{self.process.log_tail(lines)}"


def wait_until_peer_ready(peer: RunningPeer, path: str = "/-/ready", timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not peer.alive():
            pytest.fail(f"{peer.name} exited while starting:\n{peer.log()}", pytrace=False)
        try:
            if httpx.get(f"{peer.url}{path}", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{peer.name} not ready at {peer.url}{path} after {timeout:.0f}s:\n{peer.log()}", pytrace=False)


@contextmanager
def _running(name: str, workdir: Path, config_file: Path, argv: list[str], port: int) -> Iterator[RunningPeer]:
    # The config path is unique to this test's tmp dir: it tells our process apart from a reused pid.
    process = ManagedProcess(name, workdir / "run", marker=str(config_file))
    peer = RunningPeer(name, f"http://127.0.0.1:{port}", port, workdir, process)
    process.start(argv)
    try:
        wait_until_peer_ready(peer)
        yield peer
    finally:
        process.stop(timeout=15)


@contextmanager
def running_prometheus(workdir: Path, config: dict[str, Any], rule_files: dict[str, dict[str, Any]] | None = None,
                       extra_args: list[str] | None = None) -> Iterator[RunningPeer]:
    """Prometheus with ``config`` (rule files are written next to it and listed in ``rule_files``)."""
    binary = require_binary(PROMETHEUS_BINARY)
    workdir.mkdir(parents=True, exist_ok=True)
    rules = []
    for file_name, content in (rule_files or {}).items():
        path = workdir / file_name
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        rules.append(str(path))
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump({**config, "rule_files": rules} if rules else config, sort_keys=False))
    port = free_port()
    argv = [binary, f"--config.file={config_file}", f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # An explicit external URL: alerts' generatorURL points here, not at the machine's hostname.
            f"--web.external-url=http://127.0.0.1:{port}/", *(extra_args or [])]
    with _running("prometheus", workdir, config_file, argv, port) as peer:
        yield peer


@contextmanager
def running_alertmanager(workdir: Path, config: dict[str, Any],
                         extra_args: list[str] | None = None) -> Iterator[RunningPeer]:
    """Alertmanager with ``config``, gossip off (empty cluster listen address)."""
    binary = require_binary(ALERTMANAGER_BINARY)
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [binary, f"--config.file={config_file}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url=http://127.0.0.1:{port}/",
            "--cluster.listen-address=", *(extra_args or [])]
    with _running("alertmanager", workdir, config_file, argv, port) as peer:
        yield peer
