"""Group commit: the requests made at the same moment go out as one call (one round trip). No I/O here.

``Batcher.submit(item)`` queues ``item`` and waits for its own result. The queue is handed to the
``run`` function given to the batcher, as one list, on the event loop's next iteration: every request
made while the loop ran the current iteration's callbacks (the lane workers that became ready together)
is in that list. While ``max_in_flight`` calls are running, further requests wait and go out together
as soon as one returns, so the busier the stage, the bigger the batches, and a quiet stage adds only a
loop iteration to a request.

``run(items)`` returns one result per item, in order; an item's result that is an exception is raised
in its submitter only. ``run`` itself raising fails every item of that call (each submitter decides:
the sink retries until its write is durable). A submitter that is cancelled stops waiting; its item
may still be in a call that runs (as with any write cancelled after it was sent).

The sink uses it for the delivery ledger (``pipeline.stages.sink_stores``): the pending marks of all
deliveries about to start, and the delivered marks of all that just ended, in one Redis pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *,
                 max_batch: int = 512, max_in_flight: int = 1):
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be >= 1")
        self._run = run
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._queued: list[tuple[T, asyncio.Future]] = []
        self._in_flight = 0
        self._scheduled = False
        self._calls: set[asyncio.Task] = set()
        self.batches = 0  # calls of ``run`` so far (for tests and metrics)
        self.items = 0  # items handed to ``run`` so far

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queued.append((item, future))
        if not self._scheduled and self._in_flight < self.max_in_flight:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._queued and self._in_flight < self.max_in_flight:
            batch = [(item, future) for item, future in self._queued[:self.max_batch] if not future.done()]
            del self._queued[:self.max_batch]
            if not batch:  # every submitter of these gave up waiting
                continue
            self._in_flight += 1
            self.batches += 1
            self.items += len(batch)
            task = asyncio.get_running_loop().create_task(self._call(batch))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _call(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        try:
            try:
                results = await self._run([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} got {len(results)} results")
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            if self._queued and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)

    async def aclose(self) -> None:
        """Wait for the calls under way (queued items that have not gone out yet are not sent)."""
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
