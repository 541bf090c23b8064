"""Shared helpers of the integration tests: settings with a fresh topology; topic waiting lives in
pipeline.runtime.reader (the demo uses it too)."""

from __future__ import annotations

import uuid
from pathlib import Path

from pipeline.runtime.admin import admin_client
from pipeline.settings import KafkaSettings, Settings, TopicSettings
from pipeline.runtime.reader import wait_for_records
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.topology import load_topology
from pipeline.runtime.topics import apply_topology

__all__ = ["CREATED_PREFIXES", "SPLIT_TOPOLOGY", "drop_topics_with_prefixes", "settings_with_topology", "wait_for_records"]

# (bootstrap, prefix) of every topic set a test created; tests/conftest.py drops them after the test.
# A broker holding every test's topics for a whole run runs out of heap (~100 tests × 120 partitions).
CREATED_PREFIXES: list[tuple[str, str]] = []


def drop_topics_with_prefixes(created: list[tuple[str, str]]) -> None:
    by_bootstrap: dict[str, set[str]] = {}
    for bootstrap, prefix in created:
        by_bootstrap.setdefault(bootstrap, set()).add(prefix)
    for bootstrap, prefixes in by_bootstrap.items():
        admin = admin_client(bootstrap)
        names = [t for t in admin.list_topics(timeout=30).topics if any(t.startswith(p) for p in prefixes)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                try:
                    future.result()
                except Exception:  # noqa: BLE001 - already gone, or the broker was stopped by the test
                    pass


# Every stage in a chain of its own: what tests of one stage run (they read and write its topics).
SPLIT_TOPOLOGY = TOPOLOGIES_DIR / "split.yaml"


def settings_with_topology(bootstrap: str, stem: str, topology_file: Path | None = None) -> Settings:
    """Settings with a fresh topic prefix (``<stem><random>.``) whose topology is already applied."""
    prefix = f"{stem}{uuid.uuid4().hex[:8]}."
    CREATED_PREFIXES.append((bootstrap, prefix))
    topics = TopicSettings(prefix=prefix, **({"topology_file": topology_file} if topology_file else {}))
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap), topics=topics)
    report = apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file), prefix)
    assert not report.unresolved, report.unresolved
    return settings
