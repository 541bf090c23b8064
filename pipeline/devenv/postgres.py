"""A local PostgreSQL 15 server (Debian's postgresql-15) on loopback, for development, tests and CI.

The cluster lives in ``state_dir/postgres/data`` (``initdb`` once), is started and stopped with the
package's own ``pg_ctl`` and answers on ``127.0.0.1:<postgres_port>`` and a Unix socket in
``state_dir/postgres/run``. The bootstrap superuser is ``pipeline`` and a database ``pipeline`` is
created at the first start, so the default DSN of ``history.dsn`` works against it.

PostgreSQL refuses to run as root (``initdb``/``pg_ctl``: "cannot be run as root"). Started by root
(CI, these machines), the server runs as the ``postgres`` system user that Debian's package creates,
through ``setpriv`` (util-linux, which execs without staying in between): the data directory is
owned by that user and the directories above it must be traversable by it. When they are not (a
checkout under root's 0700 home), the cluster lives under ``/var/lib/postgresql/alert-pipeline/``
instead and the state dir records where (``postgres/data-location``). ``LocalPostgres.throwaway``
makes its directory under the system temp dir, not in pytest's 0700 per-user tree.

Authentication is ``trust`` on loopback only, as for the dev Redis: this is a development server.
Production deployments point ``history.dsn`` (and ``history.password``) at their own PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.devenv.process import DevEnvError, free_port, port_in_use
from pipeline.settings import DevSettings

PG_MAJOR = 15
PG_BIN_DIR = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
SUPERUSER = "pipeline"
DATABASE = "pipeline"
SERVICE_USER = "postgres"  # the account Debian's postgresql-common creates; used when we are root
FALLBACK_ROOT = Path("/var/lib/postgresql/alert-pipeline")  # the service user's home: always reachable
LOCATION_FILE = "data-location"
INSTALL_HINT = f"apt-get install -y postgresql-{PG_MAJOR}"


@dataclass(frozen=True)
class PostgresStart:
    dsn: str
    seconds_to_ready: float
    initialized: bool  # initdb ran (first start of this data directory)
    already_running: bool = False


class LocalPostgres:
    """One PostgreSQL cluster under ``home``; ``durable=False`` turns fsync off (tests only)."""

    def __init__(self, dev: DevSettings, home: Path | None = None, durable: bool = True):
        self.dev = dev
        self.home = home or dev.state_dir / "postgres"
        self.port = dev.postgres_port
        self.durable = durable
        self._place(self._recorded_root() or self.home)

    def _place(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "run"
        self.log_file = root / "postgres.log"

    def _recorded_root(self) -> Path | None:
        try:
            return Path((self.home / LOCATION_FILE).read_text().strip())
        except FileNotFoundError:
            return None

    def _choose_root(self) -> None:
        """Before initdb: keep the cluster in ``home`` unless the service user cannot reach it."""
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or self._service_user_reaches(self.home):
            self._place(self.home)
            return
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]
        root = FALLBACK_ROOT / digest
        root.mkdir(parents=True, exist_ok=True)
        self._own(FALLBACK_ROOT, root)
        (self.home / LOCATION_FILE).write_text(f"{root}\n")
        self._place(root)

    def _service_user_reaches(self, path: Path) -> bool:
        """Whether the service user can traverse ``path`` (and so every directory above it)."""
        return subprocess.run(self._as_service_user(["test", "-x", str(path)]), capture_output=True).returncode == 0
        self.durable = durable

    @classmethod
    def throwaway(cls, dev: DevSettings | None = None) -> LocalPostgres:
        """A non-durable server on a free port in a fresh directory under the system temp dir."""
        home = Path(tempfile.mkdtemp(prefix="pipeline-pg-"))
        os.chmod(home, 0o755)  # the service user must reach its data directory below
        dev = (dev or DevSettings()).model_copy(update={"postgres_port": free_port()})
        return cls(dev, home=home, durable=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    # -- binaries and the account they run as --------------------------------------------------
    def _binary(self, name: str) -> str:
        path = PG_BIN_DIR / name
        if not path.is_file():
            raise DevEnvError(f"PostgreSQL {PG_MAJOR} is not installed ({path} is missing). "
                              f"Install it with: {INSTALL_HINT}")
        return str(path)

    def _as_service_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise DevEnvError(f"PostgreSQL cannot run as root and there is no {SERVICE_USER!r} user to run "
                              f"it as; install the server package ({INSTALL_HINT}) or run as another user") from None
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise DevEnvError("setpriv (util-linux) is needed to start PostgreSQL as root; "
                              "install it with: apt-get install -y util-linux")
        return [setpriv, f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", "--", *argv]

    def _own(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVICE_USER)
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, argv: list[str], what: str, timeout: float) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run(self._as_service_user(argv), capture_output=True, text=True, timeout=timeout,
                                  cwd=self.root)
        except subprocess.TimeoutExpired as exc:
            raise DevEnvError(f"{what} did not finish within {timeout:.0f}s") from exc
        if done.returncode != 0:
            raise DevEnvError(f"{what} failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()}")
        return done

    # -- lifecycle -------------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def _initdb(self) -> None:
        self._choose_root()
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._own(self.data_dir, self.socket_dir)
        self._run([self._binary("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                   "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=trust"],
                  "initdb", timeout=self.dev.start_timeout_s)
        settings = [
            "# Written by pipeline.devenv.postgres.",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "max_connections = 200",
            "shared_buffers = 256MB",
            "work_mem = 16MB",
            "maintenance_work_mem = 128MB",
            "max_wal_size = 2GB",
            "log_min_duration_statement = 1000",
            "log_line_prefix = '%m [%p] %d '",
        ]
        if not self.durable:
            # Throwaway test servers: a crash loses nothing anyone keeps.
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n".join(settings) + "\n")

    def running(self) -> bool:
        if not self.initialized():
            return False
        done = subprocess.run(self._as_service_user([self._binary("pg_ctl"), "status", "-D", str(self.data_dir)]),
                              capture_output=True, text=True, cwd=self.root)
        return done.returncode == 0

    def answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def up(self) -> PostgresStart:
        """Start the server unless it already runs; initdb and create the database on first use."""
        if self.running() and self.answers():
            return PostgresStart(self.dsn, 0.0, initialized=False, already_running=True)
        pg_ctl = self._binary("pg_ctl")
        if port_in_use(self.port):
            raise DevEnvError(f"port {self.port} is already in use; stop what listens there "
                              "or set PIPELINE_DEV__POSTGRES_PORT")
        started = time.monotonic()
        initialized = not self.initialized()
        if initialized:
            self._initdb()
        self.log_file.touch()
        self._own(self.log_file)
        try:
            self._run([pg_ctl, "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                       "-t", str(int(self.dev.start_timeout_s)), "-o", f"-p {self.port}"],
                      "pg_ctl start", timeout=self.dev.start_timeout_s + 10)
        except DevEnvError as exc:
            raise DevEnvError(f"PostgreSQL did not start: {exc}\n{self.log_tail()}") from None
        deadline = started + self.dev.start_timeout_s
        while not self._database_ready():
            if time.monotonic() > deadline:
                raise DevEnvError(f"PostgreSQL started but does not answer at {self.dsn}:\n{self.log_tail()}")
            time.sleep(0.05)
        return PostgresStart(self.dsn, time.monotonic() - started, initialized=initialized)

    def _database_ready(self) -> bool:
        """Connect to the maintenance database; create ``pipeline`` when it is missing."""
        import psycopg

        admin = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        try:
            with psycopg.connect(admin, connect_timeout=2, autocommit=True) as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
            return True
        except psycopg.OperationalError:
            return False

    def down(self) -> bool:
        """Fast shutdown (open sessions are ended); False when nothing was running."""
        if not self.running():
            return False
        self._run([self._binary("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
                   "-t", "60"], "pg_ctl stop", timeout=70)
        return True

    def reset(self) -> bool:
        """Stop the server and delete its cluster; returns whether there was one."""
        self.down()
        existed = self.data_dir.exists()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.root != self.home:
            shutil.rmtree(self.root, ignore_errors=True)
            (self.home / LOCATION_FILE).unlink(missing_ok=True)
            self._place(self.home)
        return existed

    def remove(self) -> None:
        """Stop and delete everything under ``home`` (throwaway servers)."""
        self.reset()
        shutil.rmtree(self.home, ignore_errors=True)

    def status(self) -> str:
        if not self.running():
            return "postgres: stopped"
        state = "ready" if self.answers() else "running, not accepting connections"
        return f"postgres: {state} at {self.dsn}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
