"""Keys ordered by when a stage's timer must next look at them.

A timer that scans a whole table every tick costs O(active alerts) per tick (at 30k alerts the dedup
stage spent a fifth of its CPU decoding states that were not due). With this index a tick costs
O(due keys · log n). Lazy deletion: ``set`` just pushes; stale heap entries are skipped when popped.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from datetime import datetime


class DueIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Hashable]] = []
        self._due: dict[Hashable, datetime] = {}
        self._pushes = 0  # tie-breaker: keys need not be comparable

    def set(self, key: Hashable, when: datetime | None) -> None:
        """Look at ``key`` at ``when``; None: never (forget it)."""
        if when is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == when:
            return
        self._due[key] = when
        self._pushes += 1
        heapq.heappush(self._heap, (when, self._pushes, key))

    def pop_due(self, now: datetime, limit: int | None = None) -> list[Hashable]:
        """Keys due at ``now`` (removed from the index: ``set`` them again if they stay)."""
        out: list[Hashable] = []
        while self._heap and self._heap[0][0] <= now and (limit is None or len(out) < limit):
            when, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == when:
                del self._due[key]
                out.append(key)
        return out

    def next_due(self) -> datetime | None:
        while self._heap:
            when, _, key = self._heap[0]
            if self._due.get(key) == when:
                return when
            heapq.heappop(self._heap)
        return None

    def clear(self) -> None:
        self._heap.clear()
        self._due.clear()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due
