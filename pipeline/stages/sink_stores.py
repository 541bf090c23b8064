"""The sink's Redis-backed stores: the delivery ledger and the connectors' ThreadStore.

Why Redis and not the changelog-backed ``delivery_ledger`` table: the ledger entry must be durable
*before* a target is called (the ``pending`` mark is what turns a crash mid-delivery into a known
"unknown outcome" instead of a silent duplicate). A Faust table write is an asynchronous changelog
send, durable only once the producer is flushed; Redis answers ``SET NX`` after applying it. One key
per notification id also serves every input of the stage (``notifications`` and the four retry tiers),
``pipeline dlq replay`` and any worker after a rebalance, without co-partitioning, and TTLs are native.
Durability is Redis's: with ``appendonly yes`` and ``appendfsync everysec`` (the local setup) a crash
of Redis itself (not of a worker) can lose the last second of entries; ``appendfsync always`` closes it.

Round trips: the two writes of every delivery (``claim`` before the target is called, ``mark_delivered``
after it accepted) go through a ``Batcher`` (pipeline.delivery.batching): the writes of all deliveries
that reach that point at the same moment are one pipeline (no MULTI: the keys are independent), one
round trip. Each caller still returns only once Redis answered its own command, so the protocol is
unchanged: pending is in Redis before the call starts, delivered before the record is acknowledged.
The rare operations (``get``, ``take_over``, ``release``) are single commands.

Redis unreachable: every command runs through the stage's ``RedisGuard`` (pipeline.redis_client):
the client's timeouts turn a silent Redis into errors, and once the breaker counts Redis as down the
ledger's and thread memory's calls wait for its probes instead of piling up (one log line when it
goes, one when it is back, ``pipeline_redis_breaker_state{client="sink"}``). Deliveries wait with
them: without the ledger a delivery could be made twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from pipeline.delivery import metrics
from pipeline.delivery.batching import Batcher
from pipeline.delivery.ledger import LedgerEntry
from pipeline.redis_client import RedisGuard

T = TypeVar("T")

# Compare-and-delete / compare-and-set: only the attempt that wrote a pending entry may resolve it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_REPLACE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end return nil")


class RedisLedger:
    """``<prefix>sink:ledger:<notification id>`` → ``LedgerEntry``."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: int, max_batch: int = 512,
                 guard: RedisGuard | None = None):
        self._redis = client
        self._guard = guard
        self._prefix = f"{prefix}sink:ledger:"
        self._ttl = ttl_s
        self.writes: Batcher[tuple, Any] = Batcher(self._pipelined, max_batch=max_batch)

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        return await call() if self._guard is None else await self._guard.run(call)

    async def _pipelined(self, commands: list[tuple]) -> list[Any]:
        """One round trip for ``commands``; a command's error is its result (raised to its caller only)."""
        async def round_trip() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            metrics.LEDGER_ROUND_TRIPS.inc()
            metrics.LEDGER_WRITES.inc(len(commands))
            return await pipe.execute(raise_on_error=False)
        return await self._run(round_trip)

    def _key(self, notification_id: str) -> str:
        return self._prefix + notification_id

    async def get(self, notification_id: str) -> LedgerEntry | None:
        return LedgerEntry.decode(await self._run(lambda: self._redis.get(self._key(notification_id))))

    async def claim(self, notification_id: str, entry: LedgerEntry) -> bool:
        """Write a pending entry if there is none (SET NX); False when one exists."""
        return bool(await self.writes.submit(("SET", self._key(notification_id), entry.encode(), "NX", "EX", self._ttl)))

    async def take_over(self, notification_id: str, stale: LedgerEntry, entry: LedgerEntry) -> bool:
        """Replace a stale pending entry by ours, unless someone else changed it meanwhile."""
        done = await self._run(lambda: self._redis.eval(_REPLACE, 1, self._key(notification_id), stale.encode(),
                                                        entry.encode(), self._ttl))
        return done is not None

    async def mark_delivered(self, notification_id: str, entry: LedgerEntry) -> None:
        if not await self.writes.submit(("SET", self._key(notification_id), entry.encode(), "EX", self._ttl)):
            raise RuntimeError(f"delivery ledger: SET of {notification_id} not acknowledged")

    async def release(self, notification_id: str, entry: LedgerEntry) -> None:
        """Remove our pending entry: the attempt failed and its record is durable elsewhere."""
        await self._run(lambda: self._redis.eval(_RELEASE, 1, self._key(notification_id), entry.encode()))


class RedisThreadStore:
    """``ThreadStore`` for the connectors: one Redis hash per group and integration, values as JSON."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: int, guard: RedisGuard | None = None):
        self._redis = client
        self._guard = guard
        self._prefix = f"{prefix}sink:thread:"
        self._ttl = ttl_s

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        return await call() if self._guard is None else await self._guard.run(call)

    async def get(self, key: str) -> Mapping[str, Any] | None:
        fields = await self._run(lambda: self._redis.hgetall(self._prefix + key))
        if not fields:
            return None
        return {k.decode(): orjson.loads(v) for k, v in fields.items()}

    async def put(self, key: str, value: Mapping[str, Any]) -> None:
        name = self._prefix + key

        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(name, mapping={k: orjson.dumps(v) for k, v in value.items()})
                pipe.expire(name, self._ttl)
                await pipe.execute()
        await self._run(write)
