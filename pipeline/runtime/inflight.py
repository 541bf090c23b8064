"""Bounded concurrent work with per-key order: how an async stage (classify with a model, the sink)
keeps a slow answer from holding back other records.

Up to ``limit`` jobs run at once. Each job's result is delivered as soon as it is ready, except that
the results of one key (an alert's fingerprint) are delivered in the order the jobs were submitted:
an alert's "resolved" never overtakes its "firing". Different alerts do not wait for each other.
``submit`` waits only when ``limit`` jobs are already running (backpressure into the consumer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class KeyedInFlight:
    def __init__(self, limit: int):
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, key: Hashable, work: Callable[[], Awaitable[T]],
                     deliver: Callable[[T], Awaitable[None]]) -> None:
        await self._slots.acquire()
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(key, work, deliver, previous))
        self._tails[key] = task
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, key: Hashable, work: Callable[[], Awaitable[T]], deliver: Callable[[T], Awaitable[None]],
                   previous: asyncio.Task[None] | None) -> None:
        try:
            result = await work()
            if previous is not None:
                await asyncio.wait([previous])  # its failure is its own; order is what matters here
            await deliver(result)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Work and delivery handle their own failures; reaching here is a bug. The record stays
            # unacknowledged, so it is processed again after a restart rather than lost.
            log.exception("in-flight job for %r failed", key)
        finally:
            self._slots.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    @property
    def running(self) -> int:
        return len(self._running)

    async def drain(self) -> None:
        """Wait for every submitted job (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
