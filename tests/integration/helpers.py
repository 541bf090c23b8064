"""Shared helpers of the integration tests: components as processes, reading topics until done."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from pipeline.kafka_clients import admin_client
from pipeline.settings import KafkaSettings, Settings, TopicSettings
from pipeline.topic_reader import TopicRecord, read_topic
from pipeline.topology import load_topology
from pipeline.topology.apply import apply_topology


def settings_with_topology(bootstrap: str, stem: str) -> Settings:
    """Settings with a fresh topic prefix (``<stem><random>.``) whose topology is already applied."""
    prefix = f"{stem}{uuid.uuid4().hex[:8]}."
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap), topics=TopicSettings(prefix=prefix))
    report = apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file), prefix)
    assert not report.unresolved, report.unresolved
    return settings


def wait_for_records(settings: Settings, topic: str, predicate: Callable[[list[TopicRecord]], bool],
                     timeout: float = 60.0, alive: Callable[[], bool] = lambda: True,
                     describe: Callable[[], str] = lambda: "") -> list[TopicRecord]:
    """Re-read a topic from the start until ``predicate(records)`` holds."""
    deadline = time.monotonic() + timeout
    records: list[TopicRecord] = []
    while time.monotonic() < deadline:
        records = list(read_topic(settings, topic))
        if predicate(records):
            return records
        assert alive(), f"a component died while waiting for {topic}:\n{describe()}"
        time.sleep(0.3)
    raise AssertionError(f"{topic}: condition not met in {timeout}s; {len(records)} records:\n"
                         + "\n".join(str(r.as_json()) for r in records[-10:]) + "\n" + describe())
