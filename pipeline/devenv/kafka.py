"""A single-node Apache Kafka 3.9.1 broker in KRaft mode, from Maven Central jars, on loopback."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.devenv.process import DevEnvError, ManagedProcess, port_in_use, write_private
from pipeline.runtime.admin import BrokerNotReady, broker_answers, wait_for_broker
from pipeline.paths import DEPLOY_DIR
from pipeline.settings import DevSettings

KAFKA_VERSION = "3.9.1"
POM_FILE = DEPLOY_DIR / "local" / "kafka" / "pom.xml"
JARS_COMPLETE_MARKER = ".complete"

LOG4J_PROPERTIES = """\
# Written by pipeline.devenv.kafka: the jars carry no log4j configuration of their own.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage=WARN
"""


@dataclass(frozen=True)
class BrokerStart:
    bootstrap: str
    seconds_to_ready: float
    downloaded_jars: bool
    already_running: bool = False


class LocalKafka:
    """Fetch (once), format (once) and run one KRaft broker+controller under ``state_dir/kafka``."""

    def __init__(self, dev: DevSettings):
        self.dev = dev
        self.home = dev.state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.jars_dir = dev.cache_dir / f"kafka-{KAFKA_VERSION}" / "lib"
        self.process = ManagedProcess("kafka", self.home, marker=f"kafka.Kafka {self.home}")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.dev.kafka_port}"

    # -- jars -------------------------------------------------------------------------------
    def jars_cached(self) -> bool:
        return (self.jars_dir / JARS_COMPLETE_MARKER).exists() and any(self.jars_dir.glob("kafka_2.13-*.jar"))

    def ensure_jars(self) -> bool:
        """Download the broker jars unless cached. Returns True when it downloaded."""
        if self.jars_cached():
            return False
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevEnvError(
                "Maven (mvn) is not installed; it fetches the Kafka jars once. "
                "Install it with: apt-get install -y maven"
            )
        staging = self.jars_dir.with_name("lib.partial")
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(POM_FILE), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise DevEnvError(
                f"Maven could not fetch Kafka {KAFKA_VERSION} jars (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )
        (staging / JARS_COMPLETE_MARKER).write_text(KAFKA_VERSION + "\n")
        # Rename last, so an interrupted download never looks like a complete cache.
        shutil.rmtree(self.jars_dir, ignore_errors=True)
        staging.rename(self.jars_dir)
        return True

    # -- configuration ----------------------------------------------------------------------
    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.dev.kafka_sasl_ssl_port}"

    @property
    def mtls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.dev.kafka_mtls_port}"

    @property
    def scram_password_file(self) -> Path:
        return self.home / "scram-password"

    def server_properties(self) -> str:
        controller = f"127.0.0.1:{self.dev.kafka_controller_port}"
        listeners = [f"PLAINTEXT://{self.bootstrap}"]
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        secure: list[str] = []
        if self.dev.kafka_secure_listeners:
            listeners += [f"SASL_SSL://{self.sasl_ssl_bootstrap}", f"SSL://{self.mtls_bootstrap}"]
            protocols += ",SASL_SSL:SASL_SSL,SSL:SSL"
            secure = self._secure_properties()
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{controller}",
            f"listeners={','.join(listeners)},CONTROLLER://{controller}",
            f"advertised.listeners={','.join(listeners)}",
            # Brokers and the controller talk in plaintext on loopback; clients choose a listener.
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map={protocols}",
            *secure,
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # Compacted state topics (silences, alert state) are exercised in tests: clean promptly.
            "log.cleaner.backoff.ms=1000",
            "auto.create.topics.enable=false",
            "",
        ])

    def _secure_properties(self) -> list[str]:
        """SASL_SSL (SCRAM-SHA-512) and mTLS listeners with a certificate of the local CA, given inline
        as PEM (Kafka's PEM key stores in files need an encrypted key; inline ones do not)."""
        from pipeline.devenv.certs import local_ca

        ca = local_ca(self.dev.state_dir)
        pair = ca.issue("kafka")

        def inline(path: Path) -> str:
            return path.read_text().strip().replace("\n", "\\n")

        tls = [
            "ssl.keystore.type=PEM",
            f"ssl.keystore.certificate.chain={inline(pair.cert_file)}",
            f"ssl.keystore.key={inline(pair.key_file)}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.certificates={inline(ca.cert_file)}",
        ]
        return [
            *(f"listener.name.sasl_ssl.{line}" for line in tls),
            *(f"listener.name.ssl.{line}" for line in tls),
            "listener.name.ssl.ssl.client.auth=required",
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ]

    def ensure_scram_user(self) -> tuple[str, str]:
        """The SCRAM-SHA-512 user of the SASL_SSL listener (``pipeline``, password generated once into
        the state dir), set through the plaintext listener. Returns (user, password)."""
        import secrets

        from pipeline.runtime.admin import set_scram_credentials

        if not self.scram_password_file.exists():
            write_private(self.scram_password_file, secrets.token_urlsafe(24).encode())
        password = self.scram_password_file.read_text().strip()
        set_scram_credentials(self.bootstrap, "pipeline", password)
        return "pipeline", password

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j.properties").write_text(LOG4J_PROPERTIES)
        properties = self.home / "server.properties"
        properties.write_text(self.server_properties())
        return properties

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise DevEnvError(
                "Java is not installed; the local Kafka broker needs Java 17 or newer. "
                "Install it with: apt-get install -y openjdk-17-jre-headless"
            )
        version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
        match = re.search(r'version "(\d+)', version)
        if match and int(match.group(1)) < 17:
            raise DevEnvError(f"Kafka {KAFKA_VERSION} here needs Java 17+, found: {version.splitlines()[0]}")
        return java

    def _classpath(self) -> str:
        return f"{self.jars_dir}/*"

    def _format_storage(self, java: str, properties: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        storage_tool = [java, "-cp", self._classpath(), "kafka.tools.StorageTool"]
        cluster_id = subprocess.run(
            storage_tool + ["random-uuid"], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1]
        # Static controller.quorum.voters: format without --standalone.
        result = subprocess.run(
            storage_tool + ["format", "-t", cluster_id, "-c", str(properties), "-g"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise DevEnvError(f"formatting {self.data_dir} failed:\n{result.stdout}{result.stderr}")

    # -- lifecycle --------------------------------------------------------------------------
    def up(self) -> BrokerStart:
        if self.process.is_running() and broker_answers(self.bootstrap):
            return BrokerStart(self.bootstrap, 0.0, False, already_running=True)
        java = self._java()
        downloaded = self.ensure_jars()
        ports = [self.dev.kafka_port, self.dev.kafka_controller_port]
        if self.dev.kafka_secure_listeners:
            ports += [self.dev.kafka_sasl_ssl_port, self.dev.kafka_mtls_port]
        for port in ports:
            if port_in_use(port):
                raise DevEnvError(
                    f"port {port} is already in use; stop what listens there or choose other ports "
                    "(PIPELINE_DEV__KAFKA_PORT, PIPELINE_DEV__KAFKA_CONTROLLER_PORT, PIPELINE_DEV__KAFKA_SASL_SSL_PORT, "
                    "PIPELINE_DEV__KAFKA_MTLS_PORT)"
                )
        properties = self._write_config()
        self._format_storage(java, properties)
        heap = self.dev.kafka_heap
        launched = time.monotonic()
        self.process.start([
            java, f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            "-cp", self._classpath(), "kafka.Kafka", str(properties),
        ])
        try:
            wait_for_broker(
                self.bootstrap, self.dev.start_timeout_s,
                still_starting=lambda: not self.process.exited_early(),
            )
        except BrokerNotReady as exc:
            self.process.stop(timeout=5)
            raise DevEnvError(
                f"Kafka did not become ready: {exc}\n{self.process.log_tail()}\n"
                # Seen here: thousands of topics left by interrupted test runs made the controller
                # load its metadata for minutes. The dev data is disposable.
                f"The broker's data in {self.data_dir} holds {count_topic_dirs(self.data_dir)} partition "
                "directories. If it grew from old test runs, `pipeline dev reset` deletes it and starts empty."
            ) from exc
        if self.dev.kafka_secure_listeners:
            self.ensure_scram_user()
        return BrokerStart(self.bootstrap, time.monotonic() - launched, downloaded)

    def reset(self) -> bool:
        """Stop the broker and delete its data (topics, offsets, cluster id); the jars stay.
        Returns whether there was data to delete."""
        self.down()
        existed = self.data_dir.exists()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return existed

    def down(self) -> bool:
        # Kafka flushes and closes its logs on SIGTERM; a clean stop avoids log recovery next start.
        return self.process.stop(timeout=60)

    def status(self) -> str:
        if not self.process.is_running():
            return f"kafka: stopped (data in {self.data_dir})"
        state = "ready" if broker_answers(self.bootstrap) else "running, not answering metadata"
        return f"kafka: {state} at {self.bootstrap} (pid {self.process.pid()}, data in {self.data_dir})"


def count_topic_dirs(data_dir: Path) -> int:
    """Partition directories (``<topic>-<n>``) under a broker's log dir; 0 when it is missing."""
    if not data_dir.is_dir():
        return 0
    return sum(1 for entry in data_dir.iterdir() if entry.is_dir() and re.search(r"-\d+$", entry.name))
