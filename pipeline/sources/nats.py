"""The NATS JetStream stream source: a durable pull consumer whose messages become alerts on alerts.raw.

A message is acknowledged only after its alerts (or its dead letter) are on the broker, acks=all
(pipeline.runtime.raw_writer): messages are fetched in batches, every alert of the batch is written,
then every message of the batch is acked and the connection flushed, so the acks reached the server
before the next fetch. Across a crash of this process, JetStream redelivers what was not acked after
``ack_wait``; a crash between the write and the acks therefore writes those alerts twice. A
redelivered message gives byte-identical records — ``received_at`` is the message's JetStream
timestamp, not the time it was read — so the dedup stage, which forwards nothing for a record that
leaves the stored state as it was, absorbs the duplicates (tests/integration/sources/test_nats_source.py
counts both).

While the broker does not acknowledge, the batch is retried with backoff and its messages are marked
in progress so JetStream does not redeliver them meanwhile; nothing is fetched meanwhile, so alerts
keep their order. A bad message (not JSON, not the format, too large, every alert invalid) goes to
alerts.dlq with the reason in pipeline.dead_letters headers and is acked; a message with some invalid
alerts has its valid alerts written and is dead-lettered too, with the reasons of the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter

from pipeline.dead_letters import dead_letter_headers
from pipeline.ingest.errors import PayloadError, multi_error_text
from pipeline.runtime.raw_writer import DeadLetter, RawWriter
from pipeline.sources.base import (
    SourceBase,
    SourceContext,
    client_tls_context,
    problem_reason,
    wait_or_stop,
)
from pipeline.sources.model import NatsConfig, Source

log = logging.getLogger(__name__)

REDELIVERED = Counter("pipeline_source_nats_redelivered_total",
                      "Messages JetStream delivered more than once (after a crash or an ack_wait timeout).",
                      ["source"])
FETCH_TIMEOUT_S = 2.0  # an idle fetch returns after this; also how fast a stop is noticed when idle
ACCEPTED_HEADER = "pipeline.errors.accepted"  # alerts of a dead-lettered message that were written anyway


class NatsSource(SourceBase):
    def __init__(self, source: Source, writer: RawWriter, context: SourceContext):
        super().__init__(source, writer, context)
        assert source.nats is not None
        self.config: NatsConfig = source.nats
        self.durable = self.config.durable or f"pipeline-{source.name}"
        self.breaker = self.new_breaker()
        self.upstream = self.config.servers[0]
        self.pending: int | None = None  # messages the consumer has not delivered yet, as of the last fetch
        self._nc: Any = None

    # -- connecting ---------------------------------------------------------------------------------
    def connect_options(self) -> dict[str, Any]:
        """nats.connect keyword arguments: servers, credentials and TLS (secrets only in here)."""
        config = self.config
        options: dict[str, Any] = {
            "servers": list(config.servers),
            "name": f"alert-pipeline source {self.name}",
            "connect_timeout": config.connect_timeout.total_seconds(),
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,  # never give up: the breaker and health say it is failing
            "reconnect_time_wait": 2,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }
        auth = config.auth
        if auth.type == "user":
            options["user"], options["password"] = auth.user, auth.password.get_secret_value()
        elif auth.type == "token":
            options["token"] = auth.token.get_secret_value()
        elif auth.type == "nkey":
            options["nkeys_seed"] = str(auth.seed_file)
        elif auth.type == "creds":
            options["user_credentials"] = str(auth.creds_file)
        tls = client_tls_context(config.tls)
        if tls is not None:
            options["tls"] = tls
            if config.tls is not None and config.tls.server_name:
                options["tls_hostname"] = config.tls.server_name
        return options

    async def _on_error(self, exc: Exception) -> None:
        log.warning("source %s: NATS: %s", self.name, _describe(exc))

    async def _on_disconnected(self) -> None:
        self.set_health("failing", "disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        self.set_health("ok", "reconnected to NATS")

    def consumer_config(self) -> ConsumerConfig:
        config = self.config
        return ConsumerConfig(
            name=self.durable,
            durable_name=self.durable,
            description=f"alert-pipeline source {self.name}",
            filter_subject=config.subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL if config.deliver_policy == "all" else DeliverPolicy.NEW,
            ack_wait=config.ack_wait.total_seconds(),
            max_ack_pending=config.max_ack_pending,
            max_deliver=-1,  # bad messages are dead-lettered and acked; nothing is dropped after N tries
        )

    async def open(self):
        """Connect and bind to the durable consumer, creating it when it does not exist."""
        nc = await nats.connect(**self.connect_options())
        try:
            js = nc.jetstream()
            stream, wanted = self.config.stream, self.consumer_config()
            try:
                existing = await js.consumer_info(stream, self.durable)
            except nats.js.errors.NotFoundError:
                existing = None
            if existing is None:
                await js.add_consumer(stream, config=wanted)
            else:
                found = existing.config.filter_subject
                if found != wanted.filter_subject:
                    raise RuntimeError(
                        f"durable consumer {self.durable!r} of stream {stream!r} filters {found!r}, the source "
                        f"file says {wanted.filter_subject!r}: set nats.durable to another name or delete "
                        "the consumer")
                if (existing.config.ack_wait, existing.config.max_ack_pending) != (wanted.ack_wait,
                                                                                    wanted.max_ack_pending):
                    try:
                        await js.add_consumer(stream, config=wanted)  # the server updates a durable in place
                    except nats.js.errors.APIError as exc:
                        log.warning("source %s: consumer %s keeps its ack_wait/max_ack_pending: %s",
                                    self.name, self.durable, _describe(exc))
            subscription = await js.pull_subscribe_bind(durable=self.durable, stream=stream)
        except BaseException:
            await nc.close()
            raise
        return nc, subscription

    # -- running ------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.monotonic()
            if not self.breaker.allow(now):
                self.upstream_call(self.upstream, "skipped")
                await wait_or_stop(stop, 1.0)
                continue
            try:
                nc, subscription = await self.open()
            except Exception as exc:  # noqa: BLE001 - any failure to connect is the upstream failing
                self._failed(f"cannot consume {self.config.stream}/{self.config.subject}: {_describe(exc)}")
                continue
            self._nc = nc
            self.breaker.record_success()
            self.breaker_metric(self.upstream, self.breaker)
            self.set_health("ok", f"consuming {self.config.stream}/{self.config.subject} as {self.durable}")
            try:
                await self.consume(nc, subscription, stop)
            except Exception as exc:  # noqa: BLE001
                self._failed(f"consuming failed: {_describe(exc)}")
            finally:
                self._nc = None
                try:
                    await nc.close()
                except Exception:  # noqa: BLE001 - already closed
                    pass
        self.set_health("stopped", "stopped")

    def _failed(self, detail: str) -> None:
        self.breaker.record_failure(time.monotonic())
        self.breaker_metric(self.upstream, self.breaker)
        self.upstream_call(self.upstream, "error")
        self.set_health("failing", detail)

    async def consume(self, nc, subscription, stop: asyncio.Event) -> None:
        """Fetch, store, ack, until ``stop``; returns on stop, raises when the upstream fails for good."""
        failures_in_a_row = 0
        while not stop.is_set():
            count = await self._fetch_size(stop)
            if count == 0:
                return
            try:
                messages = await subscription.fetch(batch=count, timeout=FETCH_TIMEOUT_S)
            except nats.errors.TimeoutError:
                if nc.is_connected:
                    failures_in_a_row = 0
                    self.metrics.succeeded()  # idle and healthy: nothing to read
                continue
            except (nats.errors.ConnectionClosedError, nats.js.errors.NotFoundError):
                raise
            except nats.js.errors.APIError as exc:
                failures_in_a_row += 1
                if failures_in_a_row >= self.breaker.failure_threshold:
                    raise
                log.warning("source %s: fetch failed: %s", self.name, _describe(exc))
                await wait_or_stop(stop, 1.0)
                continue
            failures_in_a_row = 0
            if self.bucket is not None:
                self.bucket.try_acquire(min(len(messages), self.bucket.burst), now=time.monotonic())
            if not await self.handle(messages, stop):
                return  # stopped before the batch was stored: it is redelivered after ack_wait
            for message in messages:
                await message.ack()
            await nc.flush(timeout=self.config.connect_timeout.total_seconds())
            self.upstream_call(self.upstream, "ok")
            if self.health.state != "ok":
                self.set_health("ok", f"consuming {self.config.stream}/{self.config.subject} as {self.durable}")

    async def _fetch_size(self, stop: asyncio.Event) -> int:
        """How many messages to fetch now: the batch, or what the rate limit allows (at least 1, once a
        token is there); 0 when stopped while waiting for one."""
        if self.bucket is None:
            return self.config.batch
        while True:
            available = self.bucket.tokens(time.monotonic())
            if available >= 1:
                return max(1, min(self.config.batch, int(available)))
            if await wait_or_stop(stop, (1 - available) / self.bucket.rate):
                return 0

    async def handle(self, messages, stop: asyncio.Event) -> bool:
        """Store the alerts and dead letters of ``messages``; False when stopped before they were stored."""
        keys: list[bytes | None] = []
        values: list[bytes] = []
        letters: list[DeadLetter] = []
        for message in messages:
            metadata = message.metadata
            if metadata.num_delivered > 1:
                REDELIVERED.labels(self.name).inc()
            self.pending = metadata.num_pending
            message_keys, message_values, letter = self.read(message, metadata)
            keys += message_keys
            values += message_values
            if letter is not None:
                letters.append(letter)

        async def still_working() -> None:
            for message in messages:
                await message.in_progress()

        return await self.store_until_done(keys, values, letters, stop, while_waiting=still_working)

    def read(self, message, metadata) -> tuple[list[bytes | None], list[bytes], DeadLetter | None]:
        """The records of one message's valid alerts, and its dead letter if anything in it was refused."""
        data: bytes = message.data
        limits = self.source.limits
        if len(data) > limits.max_body_bytes:
            self.metrics.rejected("too_large")
            return [], [], self._letter(message, metadata, "PayloadTooLarge",
                                        f"message of {len(data)} bytes exceeds the source's limit of "
                                        f"{limits.max_body_bytes}")
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.metrics.rejected("bad_payload")
            return [], [], self._letter(message, metadata, "JSONDecodeError", f"message is not valid JSON: {exc}")
        received_at = metadata.timestamp.astimezone(timezone.utc) if metadata.timestamp else datetime.now(timezone.utc)
        try:
            parsed = self.parse(payload, received_at=received_at, stamp=self.stamp())
        except PayloadError as exc:
            self.metrics.rejected("bad_payload")
            return [], [], self._letter(message, metadata, "PayloadError", exc.message)
        total = len(parsed.alerts) + len(parsed.problems)
        if total > limits.max_alerts:
            self.metrics.rejected("too_large")
            return [], [], self._letter(message, metadata, "TooManyAlerts",
                                        f"{total} alerts in one message; the source accepts at most "
                                        f"{limits.max_alerts}")
        keys, values, problems = self.encode(parsed)
        if not problems:
            return keys, values, None
        reason = multi_error_text(problems)
        if values:
            reason = f"{len(problems)} of {total} alerts invalid (the other {len(values)} were stored): {reason}"
        error_class = "InvalidAlert" if problem_reason(problems[0]) == "invalid_alert" else "RecordTooLarge"
        return keys, values, self._letter(message, metadata, error_class, reason, accepted=len(values))

    def _letter(self, message, metadata, error_class: str, reason: str, accepted: int = 0) -> DeadLetter:
        original = [(name, str(value).encode()) for name, value in (message.headers or {}).items()]
        headers = dead_letter_headers(
            stage=f"source/{self.name}", reason=reason, error_class=error_class,
            topic=f"nats:{metadata.stream}:{message.subject}", partition=0, offset=metadata.sequence.stream,
            original_headers=original)
        if accepted:
            headers.append((ACCEPTED_HEADER, str(accepted).encode()))
        return DeadLetter(key=None, value=message.data, headers=headers)

    # -- check --connect --------------------------------------------------------------------------------
    async def probe(self) -> str:
        nc = await nats.connect(**{**self.connect_options(), "allow_reconnect": False})
        try:
            js = nc.jetstream()
            stream = await js.stream_info(self.config.stream)
            try:
                consumer = await js.consumer_info(self.config.stream, self.durable)
                behind = f"consumer {self.durable}: {consumer.num_pending} pending, {consumer.num_ack_pending} unacked"
            except nats.js.errors.NotFoundError:
                behind = f"consumer {self.durable} does not exist yet (created on the first run)"
            return (f"stream {self.config.stream}: {stream.state.messages} messages, subjects "
                    f"{', '.join(stream.config.subjects or [])}; {behind}")
        finally:
            await nc.close()

    def extra_status(self) -> dict[str, Any]:
        return {"durable": self.durable, "pending": self.pending,
                "breaker": self.breaker.state(time.monotonic()).name.lower()}


def _describe(exc: BaseException) -> str:
    """An error for logs and health: the class and message (nats errors often have no message)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
