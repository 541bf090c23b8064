"""Optional LLM classification through an OpenAI-compatible chat-completions API (httpx).

Per alert: L1 (in-process LRU) → L2 (Redis) → the model, behind a circuit breaker, with at most
``llm_max_concurrency`` requests in flight and ``llm_retries`` retries with doubling backoff, all within
``llm_timeout_s``. Concurrent alerts with the same signature share one request. Never raises: every
failure becomes an ``LlmOutcome`` without an answer and with the reason, and the rules stand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson

from pipeline.classification.answer_cache import LruCache, RedisAnswerCache
from pipeline.circuit_breaker import CircuitBreaker
from pipeline.classification.llm_answer import AnswerError, LlmAnswer, parse_completion
from pipeline.classification.llm_config import LlmPromptConfig
from pipeline.classification.signature import request_signature, stable_labels
from pipeline.settings import ClassificationSettings, RedisSettings

log = logging.getLogger(__name__)

AnswerSource = Literal["l1", "l2", "model"]
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class LlmOutcome:
    answer: LlmAnswer | None
    source: AnswerSource | None = None
    problem: str | None = None   # why there is no answer
    # The answer may raise the rules' priority, never lower it (classification.llm_never_lowers_priority).
    raise_only: bool = True


class _Permanent(Exception):
    """A failure retrying cannot fix (e.g. 401, 400)."""


class LlmClassifier:
    def __init__(self, settings: ClassificationSettings, prompt: LlmPromptConfig, *,
                 redis_url: RedisSettings | str | None,
                 ignored_labels: tuple[str, ...] = (), transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.prompt = prompt
        # Volatile labels and the labels classification writes never split the cache.
        self.ignored_labels = tuple(prompt.volatile_labels) + tuple(ignored_labels)
        self.clock = clock
        self.l1 = LruCache(settings.llm_cache_size, settings.llm_cache_ttl_s, clock=clock)
        # RedisSettings carry the password file and TLS files; a bare URL only what it holds itself.
        self.l2 = RedisAnswerCache(redis_url, settings.llm_cache_ttl_s) if redis_url else None
        self.breaker = CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_s)
        self._requests = asyncio.Semaphore(settings.llm_max_concurrency)
        self._pending: dict[str, asyncio.Task[LlmOutcome]] = {}
        headers = {"Content-Type": "application/json"}
        if settings.llm_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.llm_api_key.get_secret_value()}"
        self._http = httpx.AsyncClient(
            base_url=settings.llm_base_url.rstrip("/") + "/", headers=headers, transport=transport,
            timeout=httpx.Timeout(settings.llm_timeout_s),
            limits=httpx.Limits(max_connections=settings.llm_max_concurrency),
        )
        self.model_calls = 0

    def signature(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
        return request_signature(self._request_body(labels, annotations))

    async def classify(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> LlmOutcome:
        outcome = await self._classify(labels, annotations)
        return dataclasses.replace(outcome, raise_only=self.settings.llm_never_lowers_priority)

    async def _classify(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> LlmOutcome:
        # The key is the request itself: alerts share an answer only when the model reads the same.
        body = self._request_body(labels, annotations)
        signature = request_signature(body)
        answer = self.l1.get(signature)
        if answer is not None:
            return LlmOutcome(answer, "l1")
        pending = self._pending.get(signature)
        if pending is None:
            pending = asyncio.create_task(self._lookup(signature, body))
            self._pending[signature] = pending
            pending.add_done_callback(lambda _t: self._pending.pop(signature, None))
        # shield: one waiting alert being cancelled (rebalance) must not cancel the others' request.
        return await asyncio.shield(pending)

    async def _lookup(self, signature: str, body: bytes) -> LlmOutcome:
        if self.l2 is not None:
            answer = await self.l2.get(signature)
            if answer is not None:
                self.l1.put(signature, answer)
                return LlmOutcome(answer, "l2")
        if not self.breaker.allow(self.clock()):
            return LlmOutcome(None, problem="circuit breaker open after "
                              f"{self.breaker.consecutive_failures} consecutive failures")
        try:
            async with asyncio.timeout(self.settings.llm_timeout_s):
                answer = await self._ask_with_retries(body)
        except asyncio.CancelledError:
            self.breaker.release_probe()  # a cancelled trial must not leave the breaker half-open forever
            raise
        except TimeoutError:
            problem = f"no answer within {self.settings.llm_timeout_s:g}s"
        except (_Permanent, AnswerError, httpx.HTTPError) as exc:
            problem = f"{type(exc).__name__}: {exc}" if not isinstance(exc, _Permanent) else str(exc)
        else:
            self.breaker.record_success()
            self.l1.put(signature, answer)
            if self.l2 is not None:
                await self.l2.put(signature, answer)
            return LlmOutcome(answer, "model")
        self.breaker.record_failure(self.clock())
        log.warning("llm classification failed, rules stand: %s", problem)
        return LlmOutcome(None, problem=problem)

    async def _ask_with_retries(self, body: bytes) -> LlmAnswer:
        delay = self.settings.llm_retry_backoff_s
        for attempt in range(self.settings.llm_retries + 1):
            try:
                async with self._requests:
                    self.model_calls += 1
                    response = await self._http.post("chat/completions", content=body)
                if response.status_code == 200:
                    return parse_completion(response.content)
                if response.status_code not in RETRYABLE_STATUS:
                    raise _Permanent(f"model API answered HTTP {response.status_code}: {response.text[:200]}")
                failure: Exception = httpx.HTTPStatusError(
                    f"model API answered HTTP {response.status_code}", request=response.request, response=response)
            except (httpx.TransportError, AnswerError) as exc:
                failure = exc
            if attempt == self.settings.llm_retries:
                raise failure
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable: the loop returns or raises")

    def _request_body(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> bytes:
        # The cache key is a digest of these bytes (pipeline.classification.signature): deterministic
        # (sorted keys), so the same question always gives the same key.
        alert = {
            "labels": stable_labels(labels, self.ignored_labels),
            "annotations": {k: annotations[k] for k in self.prompt.annotations if annotations.get(k)},
        }
        return orjson.dumps({
            "model": self.settings.llm_model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": self.prompt.system_prompt},
                {"role": "user", "content": orjson.dumps(alert, option=orjson.OPT_SORT_KEYS).decode()},
            ],
        })

    async def close(self) -> None:
        await self._http.aclose()
        if self.l2 is not None:
            await self.l2.close()
