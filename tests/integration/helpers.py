"""Shared helpers of the integration tests: settings with a fresh topology; topic waiting lives in
pipeline.topic_reader (the demo uses it too)."""

from __future__ import annotations

import uuid

from pipeline.kafka_clients import admin_client
from pipeline.settings import KafkaSettings, Settings, TopicSettings
from pipeline.topic_reader import wait_for_records
from pipeline.topology import load_topology
from pipeline.topology.apply import apply_topology

__all__ = ["settings_with_topology", "wait_for_records"]


def settings_with_topology(bootstrap: str, stem: str) -> Settings:
    """Settings with a fresh topic prefix (``<stem><random>.``) whose topology is already applied."""
    prefix = f"{stem}{uuid.uuid4().hex[:8]}."
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap), topics=TopicSettings(prefix=prefix))
    report = apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file), prefix)
    assert not report.unresolved, report.unresolved
    return settings
