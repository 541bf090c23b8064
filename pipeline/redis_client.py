"""Every Redis client of the pipeline: made from ``RedisSettings`` (timeouts, password, TLS) and used
through a :class:`RedisGuard` (a circuit breaker with a metric and one log line each way).

Why: a client without timeouts waits forever on a Redis that accepts connections and never answers
(a black-holed host, a paused or swapping server), and redis-py's default retries (10, with backoff)
multiply whatever timeout there is. Here a command fails after ``timeout_s``; a dropped connection
(Redis restarted) is retried once on a fresh one, a timeout never. After ``breaker_failures``
consecutive failures the guard counts Redis as down: it logs that once, with what it means for the
caller, sets ``pipeline_redis_breaker_state{client}`` to 2, and lets one probe command through every
``breaker_reset_s``; the first success logs that Redis is back and for how long it was not.

What a caller does while Redis is down is its own choice: the sink's ledger *waits* (a delivery
cannot be made exactly once without it; records stay unacknowledged, nothing is lost or sent twice),
the LLM answer cache *skips* Redis (it is only a cache).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.backoff import NoBackoff
from redis.retry import Retry

from pipeline.circuit_breaker import BreakerState, CircuitBreaker
from pipeline.settings import RedisSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

BREAKER_STATE = Gauge("pipeline_redis_breaker_state",
                      "Circuit breaker of a Redis client: 0 closed (Redis answers), 1 half-open (probing), 2 open "
                      "(Redis counted as down).", ["client"])
FAILURES = Counter("pipeline_redis_failures_total",
                   "Redis commands that failed for want of Redis (timeout, refused or dropped connection, "
                   "failed authentication), per client.", ["client"])
REFUSED = Counter("pipeline_redis_calls_refused_total",
                  "Calls not made because the client's breaker was open (callers that skip Redis).", ["client"])

# Errors that say Redis is unreachable or unusable, not that one command was wrong (a ResponseError
# such as WRONGTYPE is the command's problem and leaves the breaker alone). AuthenticationError is a
# ConnectionError; builtin TimeoutError is an OSError.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)


class RedisUnavailable(redis.ConnectionError):
    """Not attempted: the client's breaker is open (Redis failed ``breaker_failures`` times in a row)."""


def redacted_url(url: str) -> str:
    """The URL without its password (for logs and errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable redis url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:<secret>@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _password(settings: RedisSettings) -> str | None:
    if settings.password is not None:
        return settings.password.get_secret_value()
    if settings.password_file is not None:
        try:
            return settings.password_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"redis.password_file {settings.password_file}: cannot read it: {exc.strerror}") from None
    return None  # maybe in the URL


def client_options(settings: RedisSettings, *, timeout_s: float | None = None,
                   connect_timeout_s: float | None = None, client_name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` / ``redis.asyncio.Redis.from_url``."""
    options: dict[str, Any] = {
        "socket_timeout": timeout_s if timeout_s is not None else settings.timeout_s,
        "socket_connect_timeout": connect_timeout_s if connect_timeout_s is not None else settings.connect_timeout_s,
        "socket_keepalive": True,
        # One more try on a fresh connection when a pooled one was dropped (Redis restarted); none on
        # a timeout: the breaker decides what happens next, not a retry loop hidden in the client.
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        "retry_on_timeout": False,
    }
    password = _password(settings)
    if password is not None:
        options["password"] = password
    if settings.username is not None:
        options["username"] = settings.username
    if client_name:
        options["client_name"] = client_name
    if settings.url.startswith("rediss://"):
        options["ssl_cert_reqs"] = "required"
        options["ssl_check_hostname"] = settings.tls_check_hostname
        if settings.tls_ca_file is not None:
            options["ssl_ca_certs"] = str(settings.tls_ca_file)
        if settings.tls_cert_file is not None:
            options["ssl_certfile"] = str(settings.tls_cert_file)
            options["ssl_keyfile"] = str(settings.tls_key_file)
    return options


def connect(settings: RedisSettings, **overrides: Any) -> aioredis.Redis:
    """An asyncio client (no connection is made until the first command)."""
    return aioredis.Redis.from_url(settings.url, **client_options(settings, **overrides))


def connect_sync(settings: RedisSettings, **overrides: Any) -> redis.Redis:
    """A blocking client, for command-line tools."""
    return redis.Redis.from_url(settings.url, **client_options(settings, **overrides))


class RedisGuard:
    """One Redis as seen by one client (``client``: the metric label, e.g. ``sink``). ``run`` makes a
    call through the breaker; with ``wait`` a call finding the breaker open waits for the next probe
    (and the probe's outcome) instead of failing at once."""

    def __init__(self, client: str, settings: RedisSettings, *, what_it_means: str, wait: bool,
                 failure_threshold: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.where = redacted_url(settings.url)
        self.what_it_means = what_it_means
        self.wait = wait
        self.breaker = CircuitBreaker(failure_threshold or settings.breaker_failures, settings.breaker_reset_s)
        self.clock = clock
        self.down_since: float | None = None  # clock time Redis was counted down; None while it answers
        self._state = BREAKER_STATE.labels(client)
        self._failures = FAILURES.labels(client)
        self._refused = REFUSED.labels(client)
        self._state.set(int(BreakerState.CLOSED))

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        while not self.breaker.allow(self.clock()):
            if not self.wait:
                self._refused.inc()
                raise RedisUnavailable(f"redis ({self.client}) at {self.where} is counted as down; not tried")
            await asyncio.sleep(self._until_next_probe())
        self._publish()
        try:
            result = await call()
        except asyncio.CancelledError:
            self.breaker.release_probe()
            raise
        except UNAVAILABLE_ERRORS as exc:
            self._failed(exc)
            raise
        except Exception:
            self._answered()  # Redis answered (with an error of the command's own): it is up
            raise
        self._answered()
        return result

    def _until_next_probe(self) -> float:
        opened_for = self.breaker.cooldown_s
        state = self.breaker.state(self.clock())
        if state is BreakerState.HALF_OPEN:  # a probe is under way: check again soon
            return min(0.05, opened_for)
        return min(max(opened_for / 10, 0.01), 0.5)

    def _failed(self, exc: BaseException) -> None:
        self._failures.inc()
        self.breaker.record_failure(self.clock())
        if self.down_since is None and self.breaker.state(self.clock()) is not BreakerState.CLOSED:
            self.down_since = self.clock()
            log.error("redis (%s) at %s is not answering: %d consecutive failures, the last %s: %s. %s; "
                      "trying again every %gs", self.client, self.where, self.breaker.consecutive_failures,
                      type(exc).__name__, exc, self.what_it_means, self.breaker.cooldown_s)
        self._publish()

    def _answered(self) -> None:
        self.breaker.record_success()
        if self.down_since is not None:
            log.warning("redis (%s) at %s answers again, after %.1fs counted as down", self.client, self.where,
                        self.clock() - self.down_since)
            self.down_since = None
        self._publish()

    def _publish(self) -> None:
        self._state.set(int(self.breaker.state(self.clock())))
