"""A stand-in for the bridge's durable producer in app-level unit tests (no broker)."""

from __future__ import annotations

import asyncio

from pipeline.api.view import ApiView


class AcknowledgingWriter:
    """Acknowledges every write at once; silence records land in ``view`` the way the Kafka follower
    delivers them: on another thread (it takes the view's lock, which must never block the loop)."""

    def __init__(self, view: ApiView) -> None:
        self.view, self.values = view, []

    async def send_values(self, topic, keys, values, partitions=None, timestamp_ms=None) -> None:
        self.values.extend(values)

    async def send_all(self, records) -> None:
        for record in records:
            await asyncio.to_thread(self.view.apply_raw, "silences", record.key, record.value)

    def broker_reachable(self, timeout: float = 2.0) -> bool:
        return True
