"""Caches of model answers: an in-process LRU (L1) in front of Redis (L2), both with a TTL.

Redis is an optimisation, never a dependency: any Redis error is logged, counted and treated as a
miss, and after one the L2 is skipped for ``redis_retry_after_s`` so a dead Redis costs no latency
per alert. L1 keeps serving what this worker has seen.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.classification.llm_answer import LlmAnswer
from pipeline.classification.signature import cache_key

log = logging.getLogger(__name__)


@dataclass
class LruCache:
    """Bounded, least recently used out first, entries expire after ``ttl_s``. Pure (clock injected)."""

    max_entries: int
    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[str, tuple[float, LlmAnswer]] = field(default_factory=OrderedDict)

    def get(self, signature: str) -> LlmAnswer | None:
        entry = self._entries.get(signature)
        if entry is None:
            return None
        expires, answer = entry
        if self.clock() >= expires:
            del self._entries[signature]
            return None
        self._entries.move_to_end(signature)
        return answer

    def put(self, signature: str, answer: LlmAnswer) -> None:
        self._entries[signature] = (self.clock() + self.ttl_s, answer)
        self._entries.move_to_end(signature)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class RedisAnswerCache:
    """L2: answers as JSON under ``alert-pipeline:llm:v1:<signature>`` with a TTL."""

    def __init__(self, url: str, ttl_s: int, *, socket_timeout_s: float = 0.25, redis_retry_after_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                              socket_connect_timeout=socket_timeout_s, retry_on_timeout=False)
        self._ttl_s = ttl_s
        self._retry_after_s = redis_retry_after_s
        self._clock = clock
        self._skip_until = 0.0
        self.errors = 0

    def _available(self) -> bool:
        return self._clock() >= self._skip_until

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        self._skip_until = self._clock() + self._retry_after_s
        log.warning("redis answer cache: %s failed (%s: %s); skipping Redis for %.0fs",
                    what, type(exc).__name__, exc, self._retry_after_s)

    async def get(self, signature: str) -> LlmAnswer | None:
        import redis

        if not self._available():
            return None
        try:
            raw = await self._redis.get(cache_key(signature))
        except (redis.RedisError, OSError) as exc:
            self._failed("GET", exc)
            return None
        if raw is None:
            return None
        try:
            return LlmAnswer.model_validate_json(raw)
        except ValueError:
            log.warning("redis answer cache: unreadable entry for %s ignored", signature)
            return None

    async def put(self, signature: str, answer: LlmAnswer) -> None:
        import redis

        if not self._available():
            return
        try:
            await self._redis.set(cache_key(signature), answer.model_dump_json(), ex=self._ttl_s)
        except (redis.RedisError, OSError) as exc:
            self._failed("SET", exc)

    async def close(self) -> None:
        await self._redis.aclose()
