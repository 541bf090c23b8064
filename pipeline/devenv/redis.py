"""A local Redis server (Debian's redis-server) on loopback, with a password and optionally a TLS port.

The password is ``dev.redis_password`` or, when unset, one generated on the first start into
``<state_dir>/redis/password`` (mode 0600) and kept; ``url`` carries it (``redis://:<password>@…``), so
show ``display_url``. With ``dev.redis_tls_port`` Redis also serves TLS there, with a certificate of the
local CA (pipeline.devenv.certs; clients verify it with ``ca_file``); client certificates are verified
when sent, not required.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

import redis

from pipeline.devenv.process import DevEnvError, ManagedProcess, port_in_use, write_private
from pipeline.settings import DevSettings


class LocalRedis:
    def __init__(self, dev: DevSettings):
        self.dev = dev
        self.home = dev.state_dir / "redis"
        self.password_file = self.home / "password"
        self.process = ManagedProcess("redis", self.home, marker=f":{dev.redis_port}")

    def password(self) -> str:
        if self.dev.redis_password is not None:
            return self.dev.redis_password.get_secret_value()
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            pass
        self.home.mkdir(parents=True, exist_ok=True)
        write_private(self.password_file, (secrets.token_urlsafe(24) + "\n").encode())
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        """What clients use, password included."""
        return f"redis://:{self.password()}@127.0.0.1:{self.dev.redis_port}/0"

    @property
    def display_url(self) -> str:
        return f"redis://127.0.0.1:{self.dev.redis_port}/0"

    @property
    def tls_url(self) -> str | None:
        if self.dev.redis_tls_port is None:
            return None
        return f"rediss://:{self.password()}@127.0.0.1:{self.dev.redis_tls_port}/0"

    @property
    def ca_file(self) -> Path:
        return self.dev.state_dir / "certs" / "ca.crt"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def _config(self) -> str:
        lines = [
            "bind 127.0.0.1",
            f"port {self.dev.redis_port}",
            "protected-mode yes",
            "daemonize no",
            f"dir {self.home}",
            # Append-only file: the delivery ledger kept here must survive a restart.
            "appendonly yes",
            "save ''",
            f"requirepass {self.password()}",
        ]
        if self.dev.redis_tls_port is not None:
            from pipeline.devenv.certs import local_ca

            ca = local_ca(self.dev.state_dir)
            pair = ca.issue("redis")
            lines += [f"tls-port {self.dev.redis_tls_port}", f"tls-cert-file {pair.cert_file}",
                      f"tls-key-file {pair.key_file}", f"tls-ca-cert-file {ca.cert_file}",
                      "tls-auth-clients optional"]
        return "\n".join(lines) + "\n"

    def up(self) -> float:
        """Start Redis unless it already runs; returns seconds to ready (0 when already up). Ours but
        not answering with the password (started before it had one, or with another): restarted."""
        if self.process.is_running():
            if self.answers():
                return 0.0
            self.process.stop(timeout=15)
        server = shutil.which("redis-server")
        if server is None:
            raise DevEnvError("redis-server is not installed. Install it with: apt-get install -y redis-server")
        for port, knob in ((self.dev.redis_port, "PIPELINE_DEV__REDIS_PORT"),
                           (self.dev.redis_tls_port, "PIPELINE_DEV__REDIS_TLS_PORT")):
            if port is not None and port_in_use(port):
                raise DevEnvError(f"port {port} is already in use; stop what listens there or set {knob}")
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "redis.conf"
        write_private(config, self._config().encode())
        started = time.monotonic()
        self.process.start([server, str(config)])
        deadline = started + self.dev.start_timeout_s
        while not self.answers():
            if self.process.exited_early() or time.monotonic() > deadline:
                self.process.stop(timeout=5)
                raise DevEnvError(f"Redis did not become ready:\n{self.process.log_tail()}")
            time.sleep(0.05)
        return time.monotonic() - started

    def down(self) -> bool:
        return self.process.stop(timeout=15)

    def reset(self) -> bool:
        """Stop Redis and delete its data (the append-only file); returns whether there was any."""
        self.down()
        files = [*self.home.glob("appendonly*"), *self.home.glob("*.rdb")]
        for path in files:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return bool(files)

    def status(self) -> str:
        if not self.process.is_running():
            return "redis: stopped"
        state = "ready" if self.answers() else "running, not answering PING with the password"
        tls = f", TLS on {self.dev.redis_tls_port} (CA {self.ca_file})" if self.dev.redis_tls_port else ""
        return f"redis: {state} at {self.display_url}{tls} (pid {self.process.pid()}); {self.client_hint()}"

    def client_hint(self) -> str:
        """How a client finds the password (the file, never the password itself)."""
        if self.dev.redis_password is not None:
            return "password: dev.redis_password"
        return f"password in {self.password_file} (PIPELINE_REDIS__PASSWORD_FILE={self.password_file})"
