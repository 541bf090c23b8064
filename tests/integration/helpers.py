"""Shared helpers of the integration tests: components as processes, reading topics until done."""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.topic_reader import TopicRecord, read_topic
from pipeline.settings import Settings


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
