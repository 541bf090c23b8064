"""The sink's delivery engine: one lane per target, each with its own queue, workers, token bucket and
circuit breaker. No Kafka in here (the sink's processor, ``pipeline.stages.sink``, feeds it ``Job``s
and gives it the runtime's durable writer), so it is tested with an in-memory ledger and output.

Isolation: the agents never wait for a target. ``dispatch`` puts the job in its target's lane queue
without blocking; a full queue sends the job back to a retry tier (uncounted) instead of stalling the
agent. Each lane runs ``concurrency_per_target`` workers, so a slow or failing target only ever
occupies its own workers, and a rate-limit pause or open breaker affects only its own lane.

Durability: a job's ``done`` (which lets the runtime commit its offset) is called only after its
outcome is durable: delivered and in the ledger, or its record acknowledged by the broker on a retry
tier or the dead-letter topic. The runtime commits the highest offset below which every record was
done, so jobs finishing out of order (lanes finish at different times) never commit past a record
still in flight. A crash re-reads everything not committed; the ledger skips what was delivered.

The crash window, exactly: the ledger's ``pending`` mark is durable before the target is called, and
``delivered`` is written right after it accepted. A worker killed between the two leaves a pending
entry; whoever reads the record again after the lease (``ledger_lease_s``) knows the outcome is
unknown and, by ``sink.on_unknown_outcome``, dead-letters it with that reason (default: the target
sees it at most once, nothing is lost, an operator replays it) or delivers it again (the target sees
it at least once; targets that deduplicate by id, as Standard Webhooks' ``webhook-id`` or
PagerDuty's dedup_key, then see it once).

Cost per delivery: each lane worker builds its ``DeliveryContext`` once (``context()``: in the stage,
its own HTTP client) and only refreshes ``ctx.now`` per delivery; attempts are bounded by
``asyncio.timeout`` (no extra task); the ledger store may batch the ``claim`` and ``mark_delivered``
writes of concurrent workers into one round trip (``RedisLedger`` does), which changes nothing here:
each call returns once its own write is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from connectors.base import Connector, DeliveryContext, Outcome
from pipeline.dead_letters import dead_letter_headers
from pipeline.delivery import ledger, metrics
from pipeline.circuit_breaker import BreakerState, CircuitBreaker
from pipeline.delivery.headers import RetryState, secret_free, with_retry_state
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.delivery.retry import DeadLetter, RetryLater, RetryPolicy
from pipeline import wire
from pipeline.models import DeliveryOutcome, Notification
from pipeline.settings import SinkSettings

log = logging.getLogger(__name__)

STAGE = "sink"
UNKNOWN_OUTCOME = "UnknownOutcome"
Headers = list[tuple[str, bytes]]


@dataclass
class Job:
    """One record to deliver, from ``notifications`` or a retry tier."""

    key: bytes
    value: bytes
    headers: Headers
    source_topic: str  # topology name of the topic it was read from
    origin: tuple[str, int, int]  # cluster topic, partition, offset (for the DLQ headers)
    done: Callable[[], object]  # acknowledge the record: call once its outcome is durable
    notification: Notification | None = None
    connector: Connector | None = None
    retry: RetryState = field(default_factory=RetryState)


class Output(Protocol):
    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers) -> None:
        """Write a record to a topology topic; returns once the broker acknowledged it."""


class Ledger(Protocol):
    async def get(self, notification_id: str) -> ledger.LedgerEntry | None: ...
    async def claim(self, notification_id: str, entry: ledger.LedgerEntry) -> bool: ...
    async def take_over(self, notification_id: str, stale: ledger.LedgerEntry,
                        entry: ledger.LedgerEntry) -> bool: ...
    async def mark_delivered(self, notification_id: str, entry: ledger.LedgerEntry) -> None: ...
    async def release(self, notification_id: str, entry: ledger.LedgerEntry) -> None: ...


_CLOSED_PASS = object()  # Lane.take's pass while the breaker is closed


class Lane:
    """One target: its queue, workers, bucket and breaker (and its metrics' label children, looked up once)."""

    def __init__(self, target_key: str, settings: SinkSettings, now: float, rate_per_s: float | None = None):
        self.target_key = target_key
        self.queue: asyncio.Queue[Job] = asyncio.Queue(settings.queue_per_target)
        self.bucket = TokenBucket(min(rate_per_s or settings.rate_per_target_s, settings.rate_per_target_s),
                                  settings.burst_per_target, now)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self.workers: list[asyncio.Task] = []
        self.queued = metrics.QUEUED.labels(target_key)
        self.delivered = metrics.DELIVERED.labels(target_key)
        self.latency = metrics.LATENCY.labels(target_key)
        self.breaker_state = metrics.BREAKER_STATE.labels(target_key)
        self.opened_at: float | None = None  # while the breaker is not closed: when it opened
        self._probe_over: asyncio.Event | None = None  # set when the probe under way has its outcome

    def take(self, now: float) -> object | None:
        """A pass to call the target now, or None while the breaker holds calls back. The pass of the
        half-open breaker's one probe is its ``_probe_over`` event; ``end`` it once done."""
        if not self.breaker.allow(now):
            return None
        if self.breaker.probing:
            self._probe_over = asyncio.Event()
            return self._probe_over
        return _CLOSED_PASS

    def end(self, call_pass: object) -> None:
        """The call of ``call_pass`` is over: if it was the probe and recorded no outcome, release it."""
        if call_pass is self._probe_over:
            self.breaker.release_probe()
            self._probe_ended()

    async def wait_for_probe(self, timeout_s: float) -> None:
        """While the probe is under way, wait (at most ``timeout_s``) for its outcome: jobs that came
        due meanwhile go out as soon as it succeeds instead of each moving on a retry tier."""
        probe_over = self._probe_over  # not None exactly while the breaker's probe is under way
        if probe_over is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await probe_over.wait()

    def _probe_ended(self) -> None:
        if self._probe_over is not None:
            self._probe_over.set()
            self._probe_over = None

    def record_failure(self, now: float, reason: str) -> None:
        self.breaker.record_failure(now)
        self._probe_ended()
        if self.opened_at is None and self.breaker.state(now) is not BreakerState.CLOSED:
            self.opened_at = now
            log.warning("sink: target %s failed %d times in a row (last: %s); circuit open: its notifications "
                        "go to the retry tiers, one probe every %gs", self.target_key,
                        self.breaker.consecutive_failures, reason, self.breaker.cooldown_s)

    def record_success(self, now: float) -> None:
        self.breaker.record_success()
        self._probe_ended()
        if self.opened_at is not None:
            log.warning("sink: target %s answers again; circuit closed after %.1fs", self.target_key,
                        now - self.opened_at)
            self.opened_at = None


class Deliverer:
    def __init__(self, *, settings: SinkSettings, policy: RetryPolicy, ledger_store: Ledger, output: Output,
                 context: Callable[[], DeliveryContext], clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, dead_letter_topic: str = "notifications.dlq",
                 outcome_topic: str | None = None):
        self.settings = settings
        self.dead_letter_topic = dead_letter_topic  # the topology's, for notifications that failed for good
        # The topology's notifications.outcomes: one DeliveryOutcome per settled attempt (None: none).
        self.outcome_topic = outcome_topic
        self.policy = policy
        self.ledger = ledger_store
        self.output = output
        self.context = context
        self.clock = clock
        self.wall_clock = wall_clock
        self.lanes: dict[str, Lane] = {}
        self._lane_of: dict[Connector, Lane] = {}  # by connector object: target_key hashes its config
        # Ledger tokens: unique per attempt and per process, without a uuid4 (os.urandom) per attempt.
        self._token_prefix = uuid.uuid4().hex[:16]
        self._tokens = itertools.count()
        self._busy: set[asyncio.Task] = set()  # lane workers handling a job (see close)
        self._closing = False
        # A live attempt must never look dead: it is cut off well within the lease.
        self.attempt_timeout_s = settings.ledger_lease_s / 2

    # -- intake (never blocks on a target) ---------------------------------------------------------
    async def dispatch(self, job: Job) -> None:
        """Queue ``job`` in its target's lane; jobs that cannot be delivered at all go to the DLQ."""
        lane = self._lane_of.get(job.connector)
        if lane is None:
            lane = self._lane_of[job.connector] = self._lane(job.connector.target_key, job.connector.rate_per_s)
        try:
            lane.queue.put_nowait(job)
        except asyncio.QueueFull:
            metrics.REQUEUED.labels(lane.target_key).inc()
            await self._send_retry(job, self.policy.requeue(job.retry, job.source_topic), lane.target_key)
            return
        lane.queued.set(lane.queue.qsize())

    async def reject(self, job: Job, error_class: str, reason: str) -> None:
        """A record that names no known target or is not a notification: straight to the DLQ."""
        log.warning("sink dead-letters %s[%d]@%d: %s", *job.origin, reason)
        dead = DeadLetter(error_class, reason, job.retry.after_failure(reason, _utcnow()))
        await self._send_dead_letter(job, dead, "(none)")

    def _lane(self, target_key: str, rate_per_s: float | None = None) -> Lane:
        lane = self.lanes.get(target_key)
        if lane is None:
            lane = self.lanes[target_key] = Lane(target_key, self.settings, self.clock(), rate_per_s)
            lane.workers = [asyncio.create_task(self._work(lane), name=f"sink-lane-{target_key}-{i}")
                            for i in range(self.settings.concurrency_per_target)]
        return lane

    async def close(self, grace_s: float = 0.0) -> None:
        """Stop every lane worker. One waiting for a job stops at once; one handling a job gets up to
        ``grace_s`` to finish it (outcome durable, record acked), since one cut off in the middle of
        a delivery leaves a pending ledger entry that reads as an unknown outcome when the record is
        read again. Jobs still queued stay unacked: the partition's next owner reads them again."""
        self._closing = True
        workers = [w for lane in self.lanes.values() for w in lane.workers]
        busy = [w for w in workers if w in self._busy]
        for worker in workers:
            if worker not in self._busy:
                worker.cancel()
        if busy and grace_s > 0:
            await asyncio.wait(busy, timeout=grace_s)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # -- one lane worker ---------------------------------------------------------------------------
    async def _work(self, lane: Lane) -> None:
        # One context per worker, so one HTTP client per worker (see pipeline.stages.sink): a worker
        # runs one delivery at a time, and only ``now`` changes from one delivery to the next.
        ctx = self.context()
        me = asyncio.current_task()
        while not self._closing:
            job = await lane.queue.get()
            lane.queued.set(lane.queue.qsize())
            self._busy.add(me)
            try:
                ctx.now = _utcnow()
                await self._handle(lane, job, ctx)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the lane; the record stays unacked (redelivered)
                log.exception("sink: unexpected error on %s[%d]@%d", *job.origin)
            finally:
                self._busy.discard(me)
                lane.breaker_state.set(int(lane.breaker.state(self.clock())))

    async def _handle(self, lane: Lane, job: Job, ctx: DeliveryContext) -> None:
        probe = lane.take(self.clock())
        if probe is None:
            await lane.wait_for_probe(self.settings.max_local_wait_s)
            probe = lane.take(self.clock())
            if probe is None:
                await self._retry(job, lane, f"{job.connector.kind}: circuit open after repeated failures")
                return
        try:
            wait = lane.bucket.reserve(self.clock())
            while wait > 0:
                if wait > self.settings.max_local_wait_s:
                    await self._retry(job, lane, f"{job.connector.kind}: rate limited for {wait:.1f}s", wait)
                    return
                await asyncio.sleep(wait)
                wait = lane.bucket.reserve(self.clock())
            entry = await self._claim(lane, job)
            if entry is not None:
                await self._attempt(lane, job, entry, ctx)
        finally:
            lane.end(probe)  # a probe that called nothing (or failed in between) tells nothing: released

    async def _claim(self, lane: Lane, job: Job) -> ledger.LedgerEntry | None:
        """Our pending ledger entry, or None when the job was settled otherwise (skipped, requeued,
        dead-lettered as unknown outcome)."""
        notification_id = job.notification.id
        token = f"{self._token_prefix}-{next(self._tokens)}"
        for _ in range(3):  # an entry that vanishes between SET NX and GET is claimed again
            entry = ledger.pending(self.wall_clock(), token)
            if await self._durably(lambda: self.ledger.claim(notification_id, entry)):
                return entry
            existing = await self._durably(lambda: self.ledger.get(notification_id))
            verdict = ledger.verdict(existing, self.wall_clock(), self.settings.ledger_lease_s)
            if verdict is ledger.Verdict.ALREADY_DELIVERED:
                metrics.SKIPPED.labels(lane.target_key).inc()
                log.info("sink: %s already delivered, not sent again", notification_id)
                await self._send_outcome(job, "duplicate_skipped", job.retry.attempts + 1)
                job.done()
                return None
            if verdict is ledger.Verdict.IN_FLIGHT:
                metrics.REQUEUED.labels(lane.target_key).inc()
                await self._send_retry(job, self.policy.requeue(job.retry, job.source_topic), lane.target_key)
                return None
            if verdict is ledger.Verdict.UNKNOWN_OUTCOME:
                if self.settings.on_unknown_outcome == "redeliver":
                    entry = ledger.pending(self.wall_clock(), token)
                    if await self._durably(lambda: self.ledger.take_over(notification_id, existing, entry)):
                        return entry
                    continue
                reason = (f"{job.connector.kind}: outcome unknown: a worker stopped while delivering it "
                          f"(attempt started {datetime.fromtimestamp(existing.at, timezone.utc).isoformat()}); "
                          "not sent again to avoid a duplicate, replay it if the target did not get it")
                dead = DeadLetter(UNKNOWN_OUTCOME, reason, job.retry.after_failure(reason, _utcnow()))
                # DLQ first, then free the id: a crash in between dead-letters it twice, never delivers twice.
                await self._send_dead_letter(job, dead, lane.target_key, ack=False)
                await self._durably(lambda: self.ledger.release(notification_id, existing))
                job.done()
                return None
        raise RuntimeError(f"delivery ledger entry of {notification_id} keeps changing")

    async def _attempt(self, lane: Lane, job: Job, entry: ledger.LedgerEntry, ctx: DeliveryContext) -> None:
        connector, notification = job.connector, job.notification
        started = self.clock()
        outcome = await self._call(connector, notification, ctx)
        lane.latency.observe(self.clock() - started)
        if outcome.kind == "delivered":
            lane.record_success(self.clock())
            await self._durably(lambda: self.ledger.mark_delivered(notification.id, ledger.delivered(self.wall_clock())))
            if outcome.thread_state:
                await self._durably(lambda: ctx.threads.put(connector.thread_key(notification), outcome.thread_state))
            lane.delivered.inc()
            await self._send_outcome(job, "delivered", job.retry.attempts + 1, status_code=outcome.status_code)
            job.done()
            return
        if outcome.kind == "retryable" and outcome.status_code != 429:
            lane.record_failure(self.clock(), outcome.reason)
        else:
            lane.record_success(self.clock())  # the endpoint answered (a rate limit or a refusal)
        if outcome.retry_after:
            lane.bucket.pause_until(self.clock() + outcome.retry_after)
        # Free the id before the record goes on: a crash in between re-reads the record and tries
        # again, whereas a stale pending entry would make the retry look like an unknown outcome.
        await self._durably(lambda: self.ledger.release(notification.id, entry))
        if outcome.kind == "retryable":
            await self._retry(job, lane, outcome.reason, outcome.retry_after, outcome.status_code)
        else:
            await self._send_dead_letter(job, self.policy.after_permanent(job.retry, outcome.reason, _utcnow()),
                                         lane.target_key, status_code=outcome.status_code)

    async def _call(self, connector: Connector, notification: Notification, ctx: DeliveryContext) -> Outcome:
        try:
            async with asyncio.timeout(self.attempt_timeout_s):  # no task per call, unlike wait_for
                return await connector.deliver(notification, ctx)
        except TimeoutError:
            return Outcome.retryable(f"{connector.kind}: no outcome within {self.attempt_timeout_s:g}s")
        except Exception as exc:  # a connector bug: retried (a fixed release can still deliver it)
            log.exception("sink: connector %s failed", connector.kind)
            # The exception's text may hold the target URL (a secret for Slack, Teams, Telegram).
            return Outcome.retryable(secret_free(f"{connector.kind}: connector error {type(exc).__name__}: {exc}")[:500])

    # -- outcomes that leave the stage as records ---------------------------------------------------
    async def _retry(self, job: Job, lane: Lane, reason: str, retry_after: float | None = None,
                     status_code: int | None = None) -> None:
        decision = self.policy.after_retryable(job.retry, reason, _utcnow(), retry_after)
        if isinstance(decision, RetryLater):
            await self._send_retry(job, decision, lane.target_key, counted=True, status_code=status_code)
        else:
            await self._send_dead_letter(job, decision, lane.target_key, status_code=status_code)

    async def _send_retry(self, job: Job, decision: RetryLater, target: str, counted: bool = False,
                          status_code: int | None = None) -> None:
        """``counted``: an attempt (or a deferral that counts as one) failed, which gets an outcome
        record; an uncounted requeue (full lane, in flight elsewhere) attempted nothing and gets none."""
        headers = with_retry_state(job.headers, decision.state)
        await self._durably(lambda: self.output.send(decision.tier.topic, job.key, job.value, headers))
        metrics.RETRIED.labels(target, decision.tier.topic).inc()
        if counted:
            await self._send_outcome(job, "retrying", decision.state.attempts, decision.state.last_error,
                                     decision.tier.topic, status_code)
        job.done()

    async def _send_dead_letter(self, job: Job, dead: DeadLetter, target: str, ack: bool = True,
                                status_code: int | None = None) -> None:
        topic, partition, offset = job.origin
        headers = dead_letter_headers(
            stage=STAGE, reason=dead.reason, error_class=dead.error_class, topic=topic, partition=partition,
            offset=offset, original_headers=with_retry_state(job.headers, dead.state))
        await self._durably(lambda: self.output.send(self.dead_letter_topic, job.key, job.value, headers))
        metrics.DEAD_LETTERED.labels(target, dead.error_class).inc()
        await self._send_outcome(job, "dead_lettered", dead.state.attempts, dead.reason, status_code=status_code)
        if ack:
            job.done()

    async def _send_outcome(self, job: Job, outcome: str, attempt: int, error: str = "", tier: str = "",
                            status_code: int | None = None) -> None:
        """The attempt's DeliveryOutcome, durable before the record is acknowledged: after the retry or
        dead-letter record it follows, so a crash in between re-reads the record and writes both again
        (the history keeps one row per notification, attempt and outcome). A record that is no
        notification (``reject`` of bad bytes) names none and gets no outcome; the DLQ has it.
        The error is the retry and DLQ headers' reason (the connector's, secret-free), bounded, with
        any URL cut to its host; no target URL, no response body."""
        notification = job.notification
        if self.outcome_topic is None or notification is None:
            return
        record = DeliveryOutcome(
            notification_id=notification.id, receiver=notification.receiver, integration=notification.integration,
            group_key=notification.group_key, outcome=outcome, attempt=max(1, attempt),
            error=secret_free(error) if error else "", at=_utcnow(), retry_tier=tier,
            status_code=status_code if status_code is not None and 0 <= status_code < 2**31 else None)
        value = wire.encode(record)
        key = notification.id.encode()
        await self._durably(lambda: self.output.send(self.outcome_topic, key, value, []))

    async def _durably(self, operation: Callable[[], Awaitable]):
        """Run a ledger or broker write until it succeeds: the record's outcome must become durable
        before its ack, so an unreachable Redis or broker holds this lane back instead of losing it."""
        backoff = 0.1
        while True:
            try:
                return await operation()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sink: durable write failed (%s: %s), retrying in %.1fs", type(exc).__name__, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
