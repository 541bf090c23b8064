"""``pipeline run``: the whole topology on one machine, as supervised processes.

One process per component — the bridge, one ``pipeline worker <chain>`` per chain of the topology, and
optionally the poll/stream sources runner — started with the same settings, their output prefixed
with the component's name on this process's stdout (journald- and container-friendly). What a
supervisor on one machine owes its children:

- **Restart** of a child that exits while the supervisor runs, after a back-off that doubles from
  ``RESTART_BACKOFF_S`` up to ``MAX_BACKOFF_S`` and starts over once a child stayed up for
  ``STABLE_AFTER_S`` (a crash loop costs one start per ``MAX_BACKOFF_S``, not a busy loop). A worker's
  state is in its changelogs and local store, so a restarted one resumes where the last checkpoint left.
- **Clean stop** on SIGTERM or SIGINT: the bridge first (no new alert is accepted that the workers
  would not take), then every other child at once, each given ``stop_timeout_s`` to checkpoint and
  leave its consumer group before SIGKILL; exit status 0. Children get SIGTERM from the kernel if the
  supervisor itself is killed (PR_SET_PDEATHSIG), so none is left orphaned.
- **Readiness**: ``ready`` is printed once the bridge answers ``/readyz`` (its Kafka writes work).

``pipeline worker <chain>`` stays the unit for scaling out across machines (or Kubernetes pods).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from pipeline.settings import Settings, settings_env

RESTART_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0
_PR_SET_PDEATHSIG = 1
# Same launcher as pipeline.devenv.components: the child runs `pipeline <args>` in this interpreter.
_LAUNCHER = "import sys; from pipeline.cli import main; sys.argv = ['pipeline', *sys.argv[1:]]; main()"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = RESTART_BACKOFF_S
    next_start_at: float = 0.0  # while waiting out a back-off
    _pump: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, settings: Settings, children: list[Child], *, echo: Callable[[str], None] = print,
                 stop_timeout_s: float = 30.0, ready_url: str | None = None):
        self.settings = settings
        self.children = children
        self.echo = echo
        self.stop_timeout_s = stop_timeout_s
        self.ready_url = ready_url
        self._env = {**os.environ, **settings_env(settings)}
        self._stopping = threading.Event()
        self._echo_lock = threading.Lock()

    # -- children -------------------------------------------------------------------------------------
    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, *child.args], env=self._env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        child.started_at = time.monotonic()
        child._pump = threading.Thread(target=self._pump, args=(child, child.process), daemon=True,
                                       name=f"log-{child.name}")
        child._pump.start()
        self._say(f"started {child.name} (pid {child.process.pid}): pipeline {' '.join(child.args)}")

    def _pump(self, child: Child, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._say(line.decode(errors="replace").rstrip("\n"), prefix=child.name)

    def _say(self, line: str, prefix: str = "run") -> None:
        with self._echo_lock:
            self.echo(f"{prefix:>10} | {line}")

    def _check(self, child: Child, now: float) -> None:
        if child.process is None:
            if now >= child.next_start_at:
                self._start(child)
            return
        code = child.process.poll()
        if code is None:
            if now - child.started_at >= STABLE_AFTER_S:
                child.backoff_s = RESTART_BACKOFF_S
            return
        ran = now - child.started_at
        child.process = None
        child.restarts += 1
        if ran >= STABLE_AFTER_S:
            child.backoff_s = RESTART_BACKOFF_S
        delay = child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)
        child.next_start_at = now + delay
        self._say(f"{child.name} exited with status {code} after {ran:.1f} s; restart {child.restarts} "
                  f"in {delay:.0f} s")

    # -- the loop ---------------------------------------------------------------------------------------
    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                self._start(child)
            ready = self.ready_url is None
            while not self._stopping.is_set():
                now = time.monotonic()
                for child in self.children:
                    self._check(child, now)
                if not ready:
                    ready = self._ready()
                    if ready:
                        self._say(f"ready: {', '.join(c.name for c in self.children)} running; bridge at "
                                  f"{self.ready_url.rsplit('/', 1)[0]}")
                self._stopping.wait(0.2)
            self._stop_all()
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _ready(self) -> bool:
        # The bridge may serve TLS (web.config_file): a local readiness probe, the certificate is not
        # what is checked here.
        for url in (self.ready_url, self.ready_url.replace("http://", "https://", 1)):
            try:
                return httpx.get(url, timeout=1.0, verify=False).status_code == 200
            except httpx.HTTPError:
                continue
        return False

    def _on_signal(self, signum, _frame) -> None:
        if not self._stopping.is_set():
            self._say(f"{signal.Signals(signum).name}: stopping")
        self._stopping.set()

    def _stop_all(self) -> None:
        first = [c for c in self.children if c.name == "bridge"]
        rest = [c for c in self.children if c.name != "bridge"]
        for group in (first, rest):
            running = [c for c in group if c.process is not None and c.process.poll() is None]
            for child in running:
                child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout_s
            for child in running:
                try:
                    child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._say(f"{child.name} did not stop within {self.stop_timeout_s:.0f} s: killed")
                    child.process.kill()
                    child.process.wait()
                code = child.process.returncode
                # uvicorn re-raises the SIGTERM it handled once its graceful shutdown completed.
                clean = code in (0, -signal.SIGTERM)
                self._say(f"stopped {child.name}" + ("" if clean else f" (status {code})"))
        for child in self.children:
            if child._pump is not None:
                child._pump.join(timeout=2.0)


def components(settings: Settings, topology, *, with_sources: bool = False) -> list[Child]:
    """The bridge, a worker per chain in data-flow order, and the sources runner when asked for."""
    children = [Child("bridge", ["bridge"])]
    from pipeline.topology import enabled_features

    # Chains of optional parts (a stage's `requires:`, e.g. history) only when the settings enable them.
    children += [Child(chain.name, ["worker", chain.name])
                 for chain in topology.enabled_chains(enabled_features(settings))]
    if with_sources:
        children.append(Child("sources", ["sources", "run"]))
    return children


def run(settings: Settings, topology, *, with_sources: bool = False, echo: Callable[[str], None] = print,
        stop_timeout_s: float = 30.0) -> int:
    ready = f"http://{settings.bridge.host}:{settings.bridge.port}/readyz"
    return Supervisor(settings, components(settings, topology, with_sources=with_sources), echo=echo,
                      stop_timeout_s=stop_timeout_s, ready_url=ready).run()
