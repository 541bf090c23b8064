"""Fixtures that give tests real services. Nothing here ever skips: a missing service fails loudly.

Kafka, in order: ``KAFKA_BOOTSTRAP_SERVERS`` if set (must answer), else a testcontainers Kafka when a
Docker daemon answers, else the project's own local broker (pipeline.devenv.kafka) on free ports.
Redis likewise: ``REDIS_URL`` if set, else a local redis-server on a free port.
PostgreSQL likewise: ``POSTGRES_URL`` (or ``PIPELINE_HISTORY__DSN``) if set, else a throwaway local
server (pipeline.devenv.postgres, Debian's postgresql-15) on a free port.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.devenv import DevEnvError
from pipeline.devenv.process import free_port
from pipeline.runtime.admin import BrokerNotReady, admin_client, wait_for_broker
from pipeline.settings import DevSettings, KafkaSettings, Settings, TopicSettings
from pipeline.topology import load_topology
from pipeline.runtime.topics import apply_topology

HOW_TO_FIX_KAFKA = (
    "Tests need a real Kafka broker. Either export KAFKA_BOOTSTRAP_SERVERS=host:port of a running "
    "broker (e.g. after `pipeline dev broker up`: 127.0.0.1:19092), or run Docker, or install "
    "Java 17+ and Maven (apt-get install -y openjdk-17-jre-headless maven) so the tests can start "
    "the local broker themselves."
)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # no daemon, no socket, no permission: all mean "no Docker here"
        return False


def isolated_dev_settings(base: Path) -> DevSettings:
    """Dev settings for a throwaway service: fresh state dir and ports, the shared jar cache."""
    return DevSettings(
        state_dir=base,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        redis_port=free_port(),
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        try:
            wait_for_broker(given, timeout=30)
        except BrokerNotReady as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={given}: {exc}. {HOW_TO_FIX_KAFKA}", pytrace=False)
        yield given
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from pipeline.devenv.kafka import LocalKafka

    broker = LocalKafka(isolated_dev_settings(tmp_path_factory.mktemp("kafka")))
    try:
        start = broker.up()
    except DevEnvError as exc:
        pytest.fail(f"could not start the local Kafka broker: {exc}\n{HOW_TO_FIX_KAFKA}", pytrace=False)
    print(f"\nlocal kafka ready at {start.bootstrap} in {start.seconds_to_ready:.2f} s")
    yield start.bootstrap
    broker.down()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    import redis

    given = os.environ.get("REDIS_URL")
    if given:
        try:
            redis.Redis.from_url(given, socket_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.fail(f"REDIS_URL={given} does not answer PING: {exc}", pytrace=False)
        yield given
        return
    from pipeline.devenv.redis import LocalRedis

    server = LocalRedis(isolated_dev_settings(tmp_path_factory.mktemp("redis")))
    try:
        server.up()
    except DevEnvError as exc:
        pytest.fail(f"could not start a local Redis: {exc}", pytrace=False)
    yield server.url
    server.down()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server DSN whose user may create databases (tests make one per module)."""
    import psycopg

    given = os.environ.get("POSTGRES_URL") or os.environ.get("PIPELINE_HISTORY__DSN")
    if given:
        try:
            with psycopg.connect(given, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            pytest.fail(f"POSTGRES_URL={given}: {exc}", pytrace=False)
        yield given
        return
    from pipeline.devenv.postgres import INSTALL_HINT, LocalPostgres

    server = LocalPostgres.throwaway()
    try:
        start = server.up()
    except DevEnvError as exc:
        server.remove()
        pytest.fail(f"could not start a local PostgreSQL: {exc}\n(install it with: {INSTALL_HINT})", pytrace=False)
    print(f"\nlocal postgres ready at {start.dsn} in {start.seconds_to_ready:.2f} s")
    yield start.dsn
    server.remove()


@pytest.fixture
def topic_prefix() -> str:
    """A fresh prefix per test, so topics and consumer groups never bleed between tests."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str) -> Settings:
    """Settings pointing at the test broker with this test's own topic prefix (dropped after the test)."""
    from tests.integration.helpers import CREATED_PREFIXES

    CREATED_PREFIXES.append((kafka_bootstrap, topic_prefix))
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap),
        topics=TopicSettings(prefix=topic_prefix),
    )


@pytest.fixture
def applied_topology(settings: Settings):
    """The default topology, created under this test's prefix."""
    topology = load_topology(settings.topics.topology_file)
    report = apply_topology(admin_client(settings.kafka), topology, settings.topics.prefix)
    assert not report.unresolved, report.unresolved
    return topology


@pytest.fixture(autouse=True, scope="module")
def _drop_test_topics():
    """After each test module, delete the topics its tests and fixtures created (settings_with_topology,
    the `settings` fixture). Per module, not per test: module-scoped fixtures share their topics."""
    yield
    from tests.integration.helpers import CREATED_PREFIXES, drop_topics_with_prefixes

    if CREATED_PREFIXES:
        created = list(CREATED_PREFIXES)
        CREATED_PREFIXES.clear()
        drop_topics_with_prefixes(created)
