"""sink: notifications (and the retry tiers) → the targets; failures → retry tiers or notifications.dlq.

Agents are thin: one per input topic decodes the record, finds its connector (receiver by name,
integration by ``kind/index`` in the Alertmanager-format config) and hands a ``Job`` to the
``Deliverer`` (pipeline.stages.sink_lanes), which owns isolation per target, the token buckets,
circuit breakers, the ledger protocol and when a record is acknowledged. Streams are ``noack``:
Faust commits an offset only once every record below it was acknowledged by the lanes, i.e. its
outcome is durable (see sink_lanes for the exact crash guarantee).

Retry tiers: a record on a tier is due at its timestamp plus the tier's delay. Each tier has its own
agent, which holds every not-yet-due record in a timer (up to ``sink.max_pending_retries`` per tier,
then it stops reading that tier), so a tier's delay never holds up ``notifications``, another tier or
another partition of the same tier.

Stores: the delivery ledger and the connectors' thread memory are in Redis (sink_stores explains why
Redis and not the topology's ``delivery_ledger`` table).

HTTP: each lane worker sends through its own ``AiohttpSender`` (connectors.http: one
``aiohttp.ClientSession``, a few keep-alive connections, in practice one to its target). aiohttp, not
httpx: in this shape httpx + httpcore cost ~520 µs of CPU per request, aiohttp ~80–170 µs, and the
sink's whole budget is well under a millisecond per delivery (bench/sink/RESULTS.md). One client per
worker, not one for every target: a worker runs one delivery at a time, so its connection is free
when it needs it and no lane ever waits for a pool that a slow target's lane holds (one shared
aiohttp session would save ~25 µs per request; httpcore's shared pool cost ~2 ms more). Each worker's
pool keeps at most ``min(sink.http_max_connections, 4)`` connections (a connector may call two
hosts). At shutdown the lanes finish the deliveries under way (up to ``SHUTDOWN_GRACE_S``), then the
senders are closed.

Metrics: ``/metrics`` on the worker's web port (``worker.web_port``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from pipeline import wire
from pipeline.delivery.headers import read_retry_state
from pipeline.delivery.retry import RetryPolicy, RetryTier
from pipeline.delivery.targets import Targets, UnknownTarget
from pipeline.models import Notification
from pipeline.settings import Settings
from pipeline.stages.sink_lanes import Deliverer, Job

log = logging.getLogger(__name__)

MAIN_TOPIC = "notifications"


def retry_policy(topology) -> RetryPolicy:
    """The retry tiers of a topology: its topics with a ``delay``."""
    return RetryPolicy([RetryTier(t.name, t.delay_s) for t in topology.retry_tiers()])


def job_from_event(event, source_topic: str) -> Job:
    message = event.message
    headers = message.headers or []
    headers = list(headers.items()) if isinstance(headers, dict) else [(k, v) for k, v in headers]
    return Job(key=event.key or b"", value=event.value or b"", headers=headers, source_topic=source_topic,
               origin=(message.topic, message.partition, message.offset), done=event.ack,
               retry=read_retry_state(headers))


def load_targets(settings: Settings) -> Targets:
    """Every connector of the configured receivers; an unusable integration stops the worker."""
    from connectors.registry import ConnectorConfigError, connectors_for
    from pipeline.amconfig import load_config

    try:
        return Targets.from_config(load_config(settings.alertmanager_config), connectors_for)
    except ConnectorConfigError as exc:
        raise SystemExit(f"stage 'sink': {exc}") from None


class SinkRuntime:
    """What the agents share, created on the worker's event loop at first use."""

    def __init__(self, settings: Settings, policy: RetryPolicy, targets: Targets, send: Callable):
        self.settings = settings
        self.policy = policy
        self.targets = targets
        self._send = send
        self._deliverer: Deliverer | None = None
        self._senders: list = []  # AiohttpSender of every lane worker, closed by aclose()
        self._redis = None  # the ledger's and thread memory's client, closed by aclose()
        self._lock = asyncio.Lock()

    async def deliverer(self) -> Deliverer:
        if self._deliverer is not None:  # every record but the first
            return self._deliverer
        async with self._lock:
            if self._deliverer is None:
                self._deliverer = self._build()
        return self._deliverer

    def _build(self) -> Deliverer:
        import httpx

        from connectors.base import DeliveryContext
        from connectors.http import AiohttpSender
        from pipeline.redis_client import RedisGuard, connect
        from pipeline.stages.sink_stores import RedisLedger, RedisThreadStore

        sink = self.settings.sink
        # The CA bundle httpx used (certifi), loaded once for every sender (~30 ms per load).
        tls = httpx.create_ssl_context()
        per_worker = min(sink.http_max_connections, HTTP_CONNECTIONS_PER_WORKER)
        client = self._redis = connect(self.settings.redis, client_name="alert-pipeline-sink")
        guard = RedisGuard("sink", self.settings.redis, wait=True, what_it_means=(
            "Deliveries wait for it (the ledger is what keeps them exactly-once); records stay unacknowledged"))
        prefix = self.settings.topics.prefix
        threads = RedisThreadStore(client, prefix, sink.thread_ttl_s, guard=guard)
        external_url = getattr(getattr(self.settings, "group", None), "external_url", "")

        def context() -> DeliveryContext:
            """A lane worker's context (called once per worker, in the worker): its own HTTP sender."""
            http = AiohttpSender(timeout_s=sink.http_timeout_s, connect_timeout_s=sink.http_connect_timeout_s,
                                 max_connections=per_worker, tls=tls)
            self._senders.append(http)
            return DeliveryContext(http=http, threads=threads, now=datetime.now(timezone.utc),
                                   external_url=external_url)

        return Deliverer(settings=sink, policy=self.policy,
                         ledger_store=RedisLedger(client, prefix, sink.ledger_ttl_s, guard=guard),
                         output=_Output(self._send), context=context)

    async def aclose(self) -> None:
        """Stop the lanes (deliveries under way finish first, see ``Deliverer.close``), then close
        the HTTP senders and the Redis client (the ledger's last writes are answered by then)."""
        if self._deliverer is not None:
            await self._deliverer.close(grace_s=SHUTDOWN_GRACE_S)
        senders, self._senders = self._senders, []
        await asyncio.gather(*(sender.aclose() for sender in senders))
        redis_client, self._redis = self._redis, None
        if redis_client is not None:
            await redis_client.aclose()

    async def intake(self, event, source_topic: str) -> None:
        deliverer = await self.deliverer()
        job = job_from_event(event, source_topic)
        try:
            job.notification = wire.decode(Notification, job.value)
        except wire.WireError as exc:
            await deliverer.reject(job, "WireError", str(exc))
            return
        try:
            job.connector = self.targets.for_notification(job.notification)
        except UnknownTarget as exc:
            await deliverer.reject(job, "UnknownTarget", str(exc))
            return
        await deliverer.dispatch(job)


HTTP_CONNECTIONS_PER_WORKER = 4  # a worker needs one at a time; a few for connectors that call two hosts
# How long a shutdown waits for deliveries under way: they take milliseconds unless a target is slow,
# and one cut off leaves a pending ledger entry that reads as an unknown outcome after the restart.
SHUTDOWN_GRACE_S = 10.0


class _Output:
    def __init__(self, send: Callable):
        self.send = send


def run(settings: Settings) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from pipeline.runtime.app import StageApp

    stage = StageApp("sink", settings)
    # A retry tier's records wait in timers without being acknowledged; a rebalance must not wait
    # for them (faust #133): whatever is not acknowledged is read again by the partition's new owner.
    stage.app.conf.stream_wait_empty = False
    topics = {name: stage.topic(name) for name in {*stage.stage.inputs, *stage.stage.outputs}}
    policy = retry_policy(stage.topology)

    async def send(topic: str, key: bytes, value: bytes, headers) -> None:
        pending = await topics[topic].send(key=key, value=value, headers=headers)
        await pending  # the broker's acknowledgement (acks=all)

    targets = load_targets(settings)
    runtime = SinkRuntime(settings, policy, targets, send)

    @stage.app.on_before_shutdown.connect
    async def close_connectors(app, **_kwargs) -> None:  # consumer stopped, producer not yet
        await runtime.aclose()
        await targets.aclose()

    @stage.app.agent(topics[MAIN_TOPIC], name="sink-notifications")
    async def deliver_notifications(stream):
        async for event in stream.noack().events():
            await runtime.intake(event, MAIN_TOPIC)

    for tier in policy.tiers:
        _tier_agent(stage.app, topics[tier.topic], tier, runtime, settings.sink.max_pending_retries)

    @stage.app.page("/metrics")
    async def metrics_page(web, request):
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    stage.run()


def _tier_agent(app, topic, tier: RetryTier, runtime: SinkRuntime, max_pending: int) -> None:
    slots = asyncio.Semaphore(max_pending)
    waiting: set[asyncio.Task] = set()

    async def when_due(event, due: float) -> None:
        try:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await runtime.intake(event, tier.topic)
        finally:
            slots.release()

    @app.agent(topic, name=f"sink-{tier.topic.replace('.', '-')}")
    async def deliver_retries(stream):
        async for event in stream.noack().events():
            await slots.acquire()
            due = (event.message.timestamp or time.time()) + tier.delay_s
            task = asyncio.create_task(when_due(event, due))
            waiting.add(task)
            task.add_done_callback(waiting.discard)
