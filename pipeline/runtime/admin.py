"""confluent-kafka clients built from the settings, and the broker readiness probe."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException  # re-exported: what a broker call raises
from confluent_kafka.admin import AdminClient

from pipeline.settings import KafkaSettings

__all__ = ["BrokerNotReady", "KafkaException", "RDKAFKA_LOGGER", "admin_client", "broker_answers",
           "wait_for_broker"]

# librdkafka prints connection failures to stderr many times a second while a broker starts;
# routing them through logging keeps them out of the terminal unless asked for.
RDKAFKA_LOGGER = logging.getLogger("librdkafka")


def admin_client(kafka: KafkaSettings | str, **overrides: Any) -> AdminClient:
    """An AdminClient for the configured cluster (or a bare bootstrap string)."""
    if isinstance(kafka, str):
        config: dict[str, Any] = {"bootstrap.servers": kafka}
    else:
        config = kafka.client_config()
    config.setdefault("logger", RDKAFKA_LOGGER)
    config.update(overrides)
    return AdminClient(config)


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def broker_answers(kafka: KafkaSettings | str, timeout: float = 2.0) -> bool:
    """True when a broker answers a metadata request (a listening port alone is not enough)."""
    bootstrap = kafka if isinstance(kafka, str) else kafka.bootstrap_servers
    if not _port_open(bootstrap):
        return False
    try:
        metadata = admin_client(kafka).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def wait_for_broker(
    kafka: KafkaSettings | str,
    timeout: float,
    still_starting: Callable[[], bool] | None = None,
) -> float:
    """Block until the broker answers metadata; return the seconds waited.

    ``still_starting`` lets a caller that launched the broker stop waiting as soon as the process
    died, instead of sitting out the whole timeout.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if broker_answers(kafka, timeout=2.0):
            return time.monotonic() - started
        if still_starting is not None and not still_starting():
            raise BrokerNotReady("the broker process exited while starting")
        if time.monotonic() >= deadline:
            bootstrap = kafka if isinstance(kafka, str) else kafka.bootstrap_servers
            raise BrokerNotReady(f"no broker answered a metadata request at {bootstrap} within {timeout:.0f}s")
        time.sleep(0.2)


class BrokerNotReady(RuntimeError):
    """No broker answered in time."""


def set_scram_credentials(kafka: KafkaSettings | str, user: str, password: str, iterations: int = 8192) -> None:
    """Create or replace a SCRAM-SHA-512 credential (KRaft keeps it in the cluster metadata)."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, iterations),
                                          password.encode())
    admin = admin_client(kafka)  # referenced until the answer came: a destroyed client fails its futures
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)

