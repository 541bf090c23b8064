"""A local Redis server (Debian's redis-server) on loopback."""

from __future__ import annotations

import shutil
import time

import redis

from pipeline.devenv.process import DevEnvError, ManagedProcess, port_in_use
from pipeline.settings import DevSettings


class LocalRedis:
    def __init__(self, dev: DevSettings):
        self.dev = dev
        self.home = dev.state_dir / "redis"
        self.process = ManagedProcess("redis", self.home, marker=f":{dev.redis_port}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.dev.redis_port}/0"

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def _config(self) -> str:
        return "\n".join([
            "bind 127.0.0.1",
            f"port {self.dev.redis_port}",
            "protected-mode yes",
            "daemonize no",
            f"dir {self.home}",
            # Append-only file: the delivery ledger kept here must survive a restart.
            "appendonly yes",
            "save ''",
            "",
        ])

    def up(self) -> float:
        """Start Redis unless it already runs; returns seconds to ready (0 when already up)."""
        if self.process.is_running() and self.answers():
            return 0.0
        server = shutil.which("redis-server")
        if server is None:
            raise DevEnvError("redis-server is not installed. Install it with: apt-get install -y redis-server")
        if port_in_use(self.dev.redis_port):
            raise DevEnvError(
                f"port {self.dev.redis_port} is already in use; stop what listens there "
                "or set PIPELINE_DEV__REDIS_PORT"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "redis.conf"
        config.write_text(self._config())
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
        state = "ready" if self.answers() else "running, not answering PING"
        return f"redis: {state} at {self.url} (pid {self.process.pid()})"
