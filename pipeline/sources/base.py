"""What every source shares, whatever its kind: reading payloads with the ingest formats, the labels
it adds, its rate limit, its metrics and health, its circuit breaker and the durable write.

The bridge uses the module functions (``encode_alerts``, ``SourceMetrics``) for its push sources;
poll and stream sources subclass ``SourceBase`` and implement ``run`` (until ``stop`` is set) and
``probe`` (one call to the upstream, for ``pipeline sources check --connect``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from prometheus_client import Counter, Gauge

from pipeline import wire
from pipeline.bridge.ratelimit import TokenBucket
from pipeline.circuit_breaker import BreakerState, CircuitBreaker
from pipeline.ingest.errors import AlertProblem
from pipeline.ingest.formats import FORMATS, POLL_FORMATS, GenericMapping, ParsedBatch, SourceStamp
from pipeline.ingest.formats.alertmanager_alert import record_too_large
from pipeline.runtime.raw_writer import DeadLetter, ProduceError, RawWriter
from pipeline.sources.model import Source, TlsClient

log = logging.getLogger(__name__)

# The reasons an alert (or a whole payload) is refused: a fixed set, so the metric's cardinality is bounded.
RejectReason = Literal["invalid_alert", "too_large", "bad_payload", "rate_limited", "unauthorized", "unavailable"]

ALERTS_RECEIVED = Counter(
    "pipeline_source_alerts_received_total", "Alerts a source wrote to alerts.raw (acknowledged by the broker).",
    ["source", "kind"])
ALERTS_REJECTED = Counter(
    "pipeline_source_alerts_rejected_total",
    "Alerts (or whole payloads, for bad_payload, rate_limited, unauthorized) a source refused, by reason.",
    ["source", "kind", "reason"])
LAST_SUCCESS = Gauge(
    "pipeline_source_last_success_timestamp_seconds",
    "When the source last completed a request, poll, fetch or watch event whose alerts are all stored.",
    ["source", "kind"])
SOURCE_UP = Gauge("pipeline_source_up", "1 while the source is healthy, 0 while it is failing.", ["source", "kind"])
BREAKER_STATE = Gauge(
    "pipeline_source_breaker_state", "Circuit breaker of a source's upstream: 0 closed, 1 half-open, 2 open.",
    ["source", "upstream"])
UPSTREAM_CALLS = Counter(
    "pipeline_source_upstream_calls_total", "Calls of a poll or stream source to its upstream, by outcome.",
    ["source", "upstream", "outcome"])


class SourceMetrics:
    """The metrics of one source (children bound once: incrementing is then cheap)."""

    def __init__(self, name: str, kind: str):
        self.name, self.kind = name, kind
        self._received = ALERTS_RECEIVED.labels(name, kind)
        self._last_success = LAST_SUCCESS.labels(name, kind)
        self._up = SOURCE_UP.labels(name, kind)

    def received(self, count: int) -> None:
        if count:
            self._received.inc(count)

    def rejected(self, reason: RejectReason, count: int = 1) -> None:
        if count:
            ALERTS_REJECTED.labels(self.name, self.kind, reason).inc(count)

    def succeeded(self, now: float | None = None) -> None:
        self._last_success.set(now if now is not None else time.time())

    def up(self, healthy: bool) -> None:
        self._up.set(1 if healthy else 0)


def encode_alerts(parsed: ParsedBatch, max_record_bytes: int
                  ) -> tuple[list[bytes | None], list[bytes], list[AlertProblem]]:
    """Keys and values of the valid alerts' records; an alert whose record is too large is invalid too.

    The text caps of ingest count characters, but JSON spells a control character in six bytes,
    so only the encoded size tells whether the record fits (normalize would dead-letter it).
    """
    keys: list[bytes | None] = []
    values: list[bytes] = []
    problems = list(parsed.problems)
    for index, alert in zip(parsed.indices, parsed.alerts):
        value = wire.encode(alert)
        if len(value) > max_record_bytes:
            problems.append(AlertProblem(index, record_too_large(len(value), max_record_bytes)))
            continue
        keys.append((alert.fingerprint or "").encode() or None)
        values.append(value)
    problems.sort(key=lambda problem: problem.index)
    return keys, values, problems


def problem_reason(problem: AlertProblem) -> RejectReason:
    return "too_large" if problem.reason.startswith("alert too large") else "invalid_alert"


@dataclass
class Health:
    """How a source is doing. ``failing`` turns the runner's /readyz to 503."""

    state: Literal["starting", "ok", "degraded", "failing", "stopped"] = "starting"
    detail: str = "not started yet"
    since: float = field(default_factory=time.time)

    def set(self, state: str, detail: str) -> bool:
        """Change the state; True when it changed (worth a log line)."""
        changed = state != self.state
        if changed:
            self.since = time.time()
        self.state, self.detail = state, detail  # type: ignore[assignment]
        return changed


@dataclass(frozen=True)
class SourceContext:
    """What the deployment gives every source: the Alertmanager global resolve_timeout and the record cap."""

    resolve_timeout: timedelta
    max_record_bytes: int


class SourceBase(ABC):
    """A poll or stream source: normalization, labels, rate limit, metrics, health, breaker, writes."""

    def __init__(self, source: Source, writer: RawWriter, context: SourceContext):
        self.source = source
        self.name = source.name
        self.writer = writer
        self.context = context
        self.metrics = SourceMetrics(source.name, source.kind)
        self.health = Health()
        limit = source.limits.rate_limit
        self.bucket = TokenBucket(limit.requests_per_second, limit.burst) if limit is not None else None
        self.mapping = GenericMapping.model_validate(source.mapping) if source.mapping is not None else None

    # -- building blocks for subclasses ---------------------------------------------------------------
    @property
    def resolve_timeout(self) -> timedelta:
        return self.source.resolve_timeout or self.context.resolve_timeout

    def new_breaker(self) -> CircuitBreaker:
        """A circuit breaker with the source's settings (one per upstream)."""
        assert self.source.breaker is not None
        return CircuitBreaker(self.source.breaker.failures, self.source.breaker.cooldown.total_seconds())

    def breaker_metric(self, upstream: str, breaker: CircuitBreaker) -> None:
        BREAKER_STATE.labels(self.name, upstream).set(int(breaker.state(time.monotonic())))

    def upstream_call(self, upstream: str, outcome: Literal["ok", "error", "skipped"]) -> None:
        UPSTREAM_CALLS.labels(self.name, upstream, outcome).inc()

    def stamp(self, valid_until: datetime | None = None) -> SourceStamp:
        return SourceStamp(labels=self.source.labels, valid_until=valid_until)

    def parse(self, payload: Any, *, received_at: datetime, stamp: SourceStamp, poll: bool = False) -> ParsedBatch:
        """``payload`` read with the source's format (its poll format for poll sources); PayloadError
        when it is unusable as a whole."""
        module = POLL_FORMATS[self.source.type] if poll else FORMATS[self.source.format]
        options = {"mapping": self.mapping} if self.mapping is not None else {}
        return module.parse(payload, source=self.name, received_at=received_at,
                            resolve_timeout=self.resolve_timeout, stamp=stamp, **options)

    def encode(self, parsed: ParsedBatch) -> tuple[list[bytes | None], list[bytes], list[AlertProblem]]:
        """The records of ``parsed``'s valid alerts; the refused ones are counted by reason."""
        keys, values, problems = encode_alerts(parsed, self.context.max_record_bytes)
        for problem in problems:
            self.metrics.rejected(problem_reason(problem))
        return keys, values, problems

    async def store(self, keys: list[bytes | None], values: list[bytes],
                    dead_letters: list[DeadLetter] | None = None) -> None:
        """Write records (and dead letters) durably; ProduceError unless the broker acknowledged all.
        Counts the alerts and the success only once they are stored."""
        await self.writer.write(keys, values)
        if dead_letters:
            await self.writer.dead_letter(dead_letters)
        self.metrics.received(len(values))
        self.metrics.succeeded()

    async def store_until_done(self, keys: list[bytes | None], values: list[bytes],
                               dead_letters: list[DeadLetter] | None, stop: asyncio.Event,
                               while_waiting=None) -> bool:
        """``store``, retried with backoff while the broker does not acknowledge (the alerts are held,
        never dropped); False when ``stop`` was set first. ``while_waiting`` is awaited before each
        retry (a NATS source tells JetStream its messages are still in progress)."""
        delay = 0.5
        while True:
            try:
                await self.store(keys, values, dead_letters)
            except ProduceError as exc:
                self.set_health("failing", f"alerts.raw does not acknowledge: {exc}")
                if await wait_or_stop(stop, delay):
                    return False
                delay = min(delay * 2, 10.0)
                if while_waiting is not None:
                    await while_waiting()
                continue
            return True

    async def take_token(self, stop: asyncio.Event, cost: float = 1) -> bool:
        """Wait for the rate limit (never drop: the upstream holds what is not taken yet); False when
        ``stop`` was set while waiting."""
        if self.bucket is None:
            return True
        cost = min(cost, self.bucket.burst)
        while True:
            allowed, retry_after = self.bucket.try_acquire(cost, now=time.monotonic())
            if allowed:
                return True
            wait = min(retry_after, 1.0 / self.bucket.rate * cost)
            if await wait_or_stop(stop, max(wait, 0.001)):
                return False

    def set_health(self, state: str, detail: str) -> None:
        if self.health.set(state, detail):
            level = logging.WARNING if state in ("failing", "degraded") else logging.INFO
            log.log(level, "source %s: %s (%s)", self.name, state, detail)
        self.metrics.up(state in ("ok", "degraded"))

    def status(self) -> dict[str, Any]:
        """What /sources shows of the source (no secret: settings are not included)."""
        return {"name": self.name, "kind": self.source.kind, "type": self.source.type,
                "target": self.source.target, "health": self.health.state, "detail": self.health.detail,
                "since": datetime.fromtimestamp(self.health.since, timezone.utc).isoformat(timespec="seconds"),
                **self.extra_status()}

    def extra_status(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    async def run(self, stop: asyncio.Event) -> None:
        """Take alerts until ``stop`` is set; must not return earlier (the runner restarts it if it raises)."""

    @abstractmethod
    async def probe(self) -> str:
        """One call to the upstream; a line saying what answered, or an exception saying what failed."""


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return False
    return True


def breaker_is_open(breaker: CircuitBreaker) -> bool:
    return breaker.state(time.monotonic()) is BreakerState.OPEN


def client_tls_context(tls: TlsClient | None) -> ssl.SSLContext | None:
    """The SSL context of a poll or stream source's upstream connections; None: the client's default
    (system trust store, hostname checked)."""
    if tls is None:
        return None
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None and tls.key_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure_skip_verify:
        log.warning("TLS certificate verification is OFF for a source (insecure_skip_verify): lab use only")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
