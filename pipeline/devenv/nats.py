"""A local NATS server with JetStream (Debian's nats-server) on loopback: the stream source's peer in
development, the tests and CI."""

from __future__ import annotations

import json
import shutil
import socket
import time

from pipeline.devenv.process import DevEnvError, ManagedProcess, port_in_use
from pipeline.settings import DevSettings

# Debian installs it in /usr/sbin, which is not on every user's PATH.
_CANDIDATES = ("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server")


def nats_server_binary() -> str | None:
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def server_info(host: str, port: int, timeout: float = 0.5) -> dict | None:
    """The INFO a NATS server sends first on every connection (it says whether JetStream is on);
    None when nothing answers like a NATS server."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            line = b""
            while not line.endswith(b"\r\n") and len(line) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                line += chunk
    except OSError:
        return None
    if not line.startswith(b"INFO "):
        return None
    try:
        return json.loads(line[5:].split(b"\r\n", 1)[0])
    except ValueError:
        return None


class LocalNats:
    def __init__(self, dev: DevSettings, extra_config: str = ""):
        """``extra_config``: more nats-server configuration (authorization, tls), e.g. for tests."""
        self.dev = dev
        self.extra_config = extra_config
        self.home = dev.state_dir / "nats"
        self.config_file = self.home / "nats.conf"
        # The config path is unique to this state dir: it tells our process apart from a reused pid.
        self.process = ManagedProcess("nats", self.home, marker=str(self.config_file))

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.dev.nats_port}"

    def answers(self) -> bool:
        # The INFO line comes before any TLS handshake or authentication, so this works for every setup.
        info = server_info("127.0.0.1", self.dev.nats_port)
        return bool(info and info.get("jetstream"))

    def config(self) -> str:
        store = self.home / "jetstream"
        return "\n".join([
            "listen: 127.0.0.1:%d" % self.dev.nats_port,
            "server_name: pipeline-dev",
            # Bounded: a runaway test cannot fill the disk or the memory of the shared machine.
            "max_payload: 4MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(store))}",
            "  max_memory_store: 256MB",
            "  max_file_store: 4GB",
            "}",
            self.extra_config,
            "",
        ])

    def up(self) -> float:
        """Start the server unless it already runs; returns seconds to ready (0 when already up)."""
        if self.process.is_running() and self.answers():
            return 0.0
        server = nats_server_binary()
        if server is None:
            raise DevEnvError("nats-server is not installed. Install it with: apt-get install -y nats-server")
        if port_in_use(self.dev.nats_port):
            raise DevEnvError(
                f"port {self.dev.nats_port} is already in use; stop what listens there or set PIPELINE_DEV__NATS_PORT"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config())
        started = time.monotonic()
        self.process.start([server, "-c", str(self.config_file)])
        deadline = started + self.dev.start_timeout_s
        while not self.answers():
            if self.process.exited_early() or time.monotonic() > deadline:
                self.process.stop(timeout=5)
                raise DevEnvError(f"nats-server did not become ready:\n{self.process.log_tail()}")
            time.sleep(0.05)
        return time.monotonic() - started

    def down(self) -> bool:
        return self.process.stop(timeout=15)

    def reset(self) -> bool:
        """Stop the server and delete its JetStream data; returns whether there was any."""
        self.down()
        store = self.home / "jetstream"
        existed = store.exists()
        shutil.rmtree(store, ignore_errors=True)
        return existed

    def status(self) -> str:
        if not self.process.is_running():
            return "nats: stopped"
        state = "ready (JetStream on)" if self.answers() else "running, not answering"
        return f"nats: {state} at {self.url} (pid {self.process.pid()})"
