"""Caches of model answers: an in-process LRU (L1) in front of Redis (L2), both with a TTL.

Redis is an optimisation, never a dependency: any Redis error is treated as a miss, and after one
the L2 is skipped (its circuit breaker, pipeline.redis_client) until a probe finds Redis again every
``redis.breaker_reset_s``, so a dead Redis costs no latency per alert. L1 keeps serving what this
worker has seen.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.classification.llm_answer import LlmAnswer
from pipeline.classification.signature import cache_key

if TYPE_CHECKING:
    from pipeline.settings import RedisSettings

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
    """L2: answers as JSON under ``alert-pipeline:llm:v1:<signature>`` with a TTL.

    Short timeouts (an answer from Redis is only worth having fast) and a breaker that counts Redis as
    down after one failure: while it is down the cache is skipped at no latency (pipeline.redis_client
    logs that once, and once when Redis is back)."""

    def __init__(self, redis: RedisSettings | str, ttl_s: int, *, timeout_s: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        from pipeline.redis_client import RedisGuard, connect
        from pipeline.settings import RedisSettings

        settings = redis if isinstance(redis, RedisSettings) else RedisSettings(url=redis)
        self._redis = connect(settings, timeout_s=timeout_s, connect_timeout_s=timeout_s,
                              client_name="alert-pipeline-llm-cache")
        self._guard = RedisGuard("llm-cache", settings, wait=False, failure_threshold=1, clock=clock,
                                 what_it_means="Model answers are not shared between workers meanwhile "
                                               "(each worker's in-process cache still serves)")
        self._ttl_s = ttl_s

    async def get(self, signature: str) -> LlmAnswer | None:
        from pipeline.redis_client import UNAVAILABLE_ERRORS

        try:
            raw = await self._guard.run(lambda: self._redis.get(cache_key(signature)))
        except UNAVAILABLE_ERRORS:
            return None  # counted and logged by the guard; a miss
        except Exception as exc:  # a command error (e.g. WRONGTYPE): a miss, said once per entry
            log.warning("redis answer cache: GET of %s failed: %s: %s", signature, type(exc).__name__, exc)
            return None
        if raw is None:
            return None
        try:
            return LlmAnswer.model_validate_json(raw)
        except ValueError:
            log.warning("redis answer cache: unreadable entry for %s ignored", signature)
            return None

    async def put(self, signature: str, answer: LlmAnswer) -> None:
        from pipeline.redis_client import UNAVAILABLE_ERRORS

        try:
            await self._guard.run(lambda: self._redis.set(cache_key(signature), answer.model_dump_json(),
                                                          ex=self._ttl_s))
        except UNAVAILABLE_ERRORS:
            pass
        except Exception as exc:
            log.warning("redis answer cache: SET of %s failed: %s: %s", signature, type(exc).__name__, exc)

    async def close(self) -> None:
        await self._redis.aclose()
