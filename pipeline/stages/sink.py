"""sink: notifications (and the retry tiers) → the targets; failures → retry tiers or the dead-letter topic.

The processor is thin and async: each record finds its connector (receiver by name, integration by
``kind/index`` in the Alertmanager-format config) and becomes a ``Job`` for the ``Deliverer``
(pipeline.stages.sink_lanes), which owns isolation per target, the token buckets, circuit breakers,
the ledger protocol and when a record is done; ``process`` returns once the record's outcome is
durable, and the runtime commits an offset only once every record below it is done (see sink_lanes
for the exact crash guarantee). Retry and dead-letter records are written through the runtime's
durable writer while the delivery is handled, in the order the ledger protocol needs; so is one
DeliveryOutcome per settled attempt to the ``outcomes`` port (notifications.outcomes, for the history
stage), before the record is acknowledged.

Retry tiers: a record on a tier is due at its timestamp plus the tier's delay (the topology's
``delay``); the runtime holds it until then, up to ``sink.max_pending_retries`` per tier and then
it stops reading that tier, so a tier's delay never holds up ``notifications``, another tier or
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
from datetime import datetime, timezone

from pipeline.delivery.headers import read_retry_state
from pipeline.delivery.retry import RetryPolicy, RetryTier
from pipeline.delivery.targets import Targets, UnknownTarget
from pipeline.models import Notification
from pipeline.settings import Settings
from pipeline.stages.processor import Processor, Record
from pipeline.stages.sink_lanes import Deliverer, Job

log = logging.getLogger(__name__)

HTTP_CONNECTIONS_PER_WORKER = 4  # a worker needs one at a time; a few for connectors that call two hosts
# How long a shutdown waits for deliveries under way: they take milliseconds unless a target is slow,
# and one cut off leaves a pending ledger entry that reads as an unknown outcome after the restart.
SHUTDOWN_GRACE_S = 10.0


def retry_policy(topology) -> RetryPolicy:
    """The retry tiers of a topology: its topics with a ``delay``."""
    return RetryPolicy([RetryTier(t.name, t.delay_s) for t in topology.retry_tiers()])


def load_targets(settings: Settings) -> Targets:
    """Every connector of the configured receivers; an unusable integration stops the worker."""
    from connectors.registry import ConnectorConfigError, connectors_for
    from pipeline.amconfig import load_config

    try:
        return Targets.from_config(load_config(settings.alertmanager_config), connectors_for)
    except ConnectorConfigError as exc:
        raise SystemExit(f"stage 'sink': {exc}") from None


class SinkProcessor(Processor):
    STAGE = "sink"
    RAW_INPUT = True      # the Deliverer keeps the bytes it re-sends to a retry tier or dead-letters
    HOLDS_RECORDS = True  # retry records wait for their tier's delay: a rebalance must not wait for them

    def __init__(self, settings: Settings, topology, targets: Targets):
        stage = topology.stages[self.STAGE]
        self.settings = settings
        self.targets = targets
        self.policy = retry_policy(topology)
        self.OUTPUTS = tuple(stage.outputs)
        self.MAX_IN_FLIGHT = settings.sink.max_pending_retries
        self.ORDERED_BY_KEY = False
        self._input_topic = dict(stage.inputs)               # port -> topic
        self._port_of = {topic: port for port, topic in stage.outputs.items()}
        self._dead_letter_topic = stage.outputs["failed"]
        self._outcome_topic = stage.outputs.get("outcomes")  # notifications.outcomes, for the history
        self.output = None  # the runtime's durable writer, set before the first record
        self._deliverer: Deliverer | None = None
        self._senders: list = []  # AiohttpSender of every lane worker, closed by aclose()
        self._redis = None
        self._lock = asyncio.Lock()
        self._warming: asyncio.Task | None = None

    @classmethod
    def from_settings(cls, settings, topology) -> SinkProcessor:
        return cls(settings, topology, load_targets(settings))

    async def deliverer(self) -> Deliverer:
        if self._deliverer is not None:  # every record but the first
            return self._deliverer
        async with self._lock:  # built on the worker's event loop: the clients bind to it
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
                         output=_PortOutput(self), context=context, dead_letter_topic=self._dead_letter_topic,
                         outcome_topic=self._outcome_topic)

    def on_assign(self, partitions, state) -> None:
        # Build the deliverer (imports, the CA bundle, the Redis connection) before the first record
        # needs it: measured ~200 ms on the first notification after a start otherwise.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a replay on simulated time): built at the first record
            return
        if self._deliverer is None and partitions:
            self._warming = loop.create_task(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            await self.deliverer()
            if self._redis is not None:
                await self._redis.ping()
        except Exception as exc:  # noqa: BLE001 - the first record builds and connects again, and says why
            log.warning("sink: could not prepare delivery ahead of the first notification: %s", exc)

    async def process(self, record: Record, state, now):  # type: ignore[override]
        deliverer = await self.deliverer()
        finished = asyncio.get_running_loop().create_future()
        headers = list(record.headers)
        job = Job(key=record.key or b"", value=record.value or b"", headers=headers,
                  source_topic=self._input_topic.get(record.port, record.port),
                  origin=(self.settings.topic(self._input_topic.get(record.port, record.port)), record.partition,
                          record.offset),
                  done=lambda: finished.done() or finished.set_result(None), retry=read_retry_state(headers))
        from pipeline import wire

        try:
            job.notification = wire.decode(Notification, job.value)
        except wire.WireError as exc:
            await deliverer.reject(job, "WireError", str(exc))
            return ()
        try:
            job.connector = self.targets.for_notification(job.notification)
        except UnknownTarget as exc:
            await deliverer.reject(job, "UnknownTarget", str(exc))
            return ()
        await deliverer.dispatch(job)
        await finished
        return ()

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
        if self.targets is not None:
            await self.targets.aclose()


class _PortOutput:
    """The Deliverer writes to topology topics; the runtime's writer takes the stage's ports."""

    def __init__(self, processor: SinkProcessor):
        self._processor = processor

    async def send(self, topic: str, key: bytes, value: bytes, headers) -> None:
        processor = self._processor
        await processor.output.send(processor._port_of[topic], key, value, tuple(headers or ()))
