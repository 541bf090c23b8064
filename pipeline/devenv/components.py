"""Pipeline components (bridge, stage workers) as child processes: for the demo and the tests."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from pipeline.devenv.process import DevEnvError, ManagedProcess
from pipeline.settings import Settings, settings_env


class Component:
    """``pipeline <args>`` running with the given settings, logging to ``log_dir/<name>.log``."""

    def __init__(self, name: str, args: list[str], settings: Settings, log_dir: Path):
        self.name = name
        self.args = args
        self.settings = settings
        marker = f"--component-id={uuid.uuid4().hex}"  # tells our process apart from a reused pid
        self.process = ManagedProcess(name, log_dir, marker=marker)
        self._argv = [sys.executable, "-c", _LAUNCHER, marker, *args]
        self._env = settings_env(settings)

    def start(self) -> Component:
        self.process.start(self._argv, env=self._env)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self.process.stop(timeout=timeout)

    def alive(self) -> bool:
        return not self.process.exited_early()

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)

    def __enter__(self) -> Component:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


# The marker rides along as an ignored argv entry, so /proc/<pid>/cmdline identifies the process.
_LAUNCHER = "import sys; from pipeline.cli import main; sys.argv = ['pipeline', *sys.argv[2:]]; main()"


def wait_until_ready(component: Component, url: str, timeout: float = 60.0,
                     get: Callable[[str], httpx.Response] | None = None) -> float:
    """Poll an HTTP readiness URL (with ``get``, e.g. a client with TLS settings and credentials);
    fail early with the component's log if it died."""
    get = get or (lambda address: httpx.get(address, timeout=1.0))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not component.alive():
            raise DevEnvError(f"{component.name} exited while starting:\n{component.log_tail()}")
        try:
            if get(url).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DevEnvError(f"{component.name} not ready at {url} after {timeout:.0f}s:\n{component.log_tail()}")
