"""A chain worker: one Faust app that runs a chain of processors on Kafka (`pipeline worker <chain>`).

Per input record (an item of a batch record, or a plain one): decode it with its topic's schema,
hand it to the chain (pipeline.runtime.chain), write what comes back. What the worker guarantees:

- **Checkpoint order** (``_checkpoint``, every ``worker.checkpoint_interval_s``): freeze the tables'
  overlays → wait until every record emitted so far is acknowledged → write the frozen changes to
  the changelogs and wait for them → write them to the local store with the changelog offsets →
  the processors' ``flush`` → acknowledge the input records handled before the freeze (Faust commits
  acknowledged offsets). A crash at any point replays input against state that does not hold its
  effect, or holds it with its emits already written.
- **Rebalance**: before partitions go, a checkpoint (Faust waits for every taken record to be
  acknowledged, and then for ours); after they come, Faust's recovery reads each changelog partition
  from the store's offset; ticks and ``on_assign`` wait until recovery completed.
- **Timers**: each processor with ``TICK_INTERVAL_S`` ticks on the partitions this worker owns, at its
  interval and at once when a ``process`` made something due.
- **Global views** (``reads``): followed whole from their beginning; nothing is processed or ticked
  before every view was read to the end offsets it had at the start.
- **Async processors**: up to ``MAX_IN_FLIGHT`` records per input topic at once (per key in order when
  ``ORDERED_BY_KEY``); topics with a ``delay`` (retry tiers) hold each record until it is due.
- **Event time** (pipeline.runtime.event_time): a chain feeding one that waits for the watermark
  reports per partition of its input how far it handled it, on its batch records and in header-only
  records; a chain reading reports passes their minimum to its processors and on downstream.
- A bad record never stops the worker (dead letter with the reason); a record the broker refuses
  does (OutputFailed): its input is read again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import faust

from pipeline import wire
from pipeline.dead_letters import Rejected, dead_letter_headers
from pipeline.models import RECORD_MODELS
from pipeline.runtime.chain import ChainExecutor, DeadLetter, Output, Pending
from pipeline.runtime.event_time import (WATERMARK_HEADER, Progress, Watermarks, encode_report, first_input,
                                         report_targets)
from pipeline.runtime.faust_store import ATTRIBUTE
from pipeline.runtime.follower import TopicFollower, wait_until_caught_up
from pipeline.runtime.housekeeping import install_housekeeping
from pipeline.runtime.inflight import KeyedInFlight
from pipeline.runtime.output import TAP_HEADER, Writer
from pipeline.runtime.producer import OutgoingRecord
from pipeline.runtime.state import MemoryBackend, RocksStore, TableState
from pipeline.settings import Settings
from pipeline.stages import EVENT_TIME_STAGES, build
from pipeline.stages.processor import Processor, Record
from pipeline.topology import Topology, load_topology
from pipeline.topology.model import LARGE_RECORD_SIZE, Chain, Stage
from pipeline.wire.batch import (BATCH_HEADER, BATCH_HEADERS, BATCHED_TOPICS, ITEM_INDEX_HEADER, is_batch, items_of,
                                 pack)
from pipeline.wire.errors import WireError

log = logging.getLogger(__name__)

# Our Faust store (pipeline.runtime.faust_store). With a host part: Faust falls back to the app's
# default store when the URL is empty, and yarl reads "pipeline://" as empty.
STORE_URL = "pipeline://tables"
FAUST_FETCH_MAX_WAIT_MS = 1500  # what Faust's aiokafka consumer is made with
EMPTY_BATCH = pack([])  # the value of a header-only watermark report


class ChainWorker:
    def __init__(self, chain_name: str, settings: Settings, topology: Topology | None = None,
                 processors: dict[str, Processor] | None = None):
        self.settings = settings
        self.topology = topology or load_topology(settings.topics.topology_file)
        chains = {c.name: c for c in self.topology.chains()}
        if chain_name not in chains:
            raise ValueError(f"{chain_name!r} is not a chain of {self.topology.source}; chains: {', '.join(chains)}")
        self.chain: Chain = chains[chain_name]
        names = [s.name for s in self.chain.stages]
        # Built before the worker joins its group: a broken configuration stops it with the reason.
        self.processors = processors or build(names, settings, self.topology)
        worker = settings.worker
        self.data_dir = worker.data_dir / chain_name
        self.data_dir.mkdir(parents=True, exist_ok=True)  # Faust creates only the leaf
        self.app = self._faust_app()
        install_housekeeping(self.app, settings.log_level)
        self._rocks: RocksStore | None = None
        self._faust_tables: list[faust.Table] = []
        self.executor = ChainExecutor(self.topology, self.chain, [self.processors[n] for n in names], self._tables)
        self._cluster = {settings.topic(name): name for name in self.topology.topics}
        batched = {settings.topic(n): self.topology.topics[n].partitions for n in BATCHED_TOPICS
                   if n in self.topology.topics}
        self.writer = Writer(settings, batched, on_fatal=self._stop_worker)
        self._completed: list[Any] = []      # input events whose records are all handled
        self._checkpoint_wake = asyncio.Event()
        self._tick_wake: dict[int, asyncio.Event] = {}
        self._owned: frozenset[int] | None = None
        self._follower: TopicFollower | None = None
        self._view_targets = {settings.topic(t): follows for t, follows in self.executor.view_ports().items()}
        self._in_flight: dict[str, Any] = {}
        self._paused_generation: int | None = None
        self._seek_round = 0  # counts the seeks of input partitions (Faust's and ours)
        self._sought: dict = {}  # input TP -> the seek round that last sought it
        self._resume_at: dict = {}  # input TP -> after the last record handed on since the seek
        self._seeking = False
        self._reseek: set = set()  # input TPs to seek again once the flow resumes after the seek under way
        self._seek_inputs: list = []  # the input TPs of the last rebalance's seek
        self._reseeking: asyncio.Future | None = None  # held so the task is not garbage-collected
        self._event_time(chain_name)
        self._wire_processors()

    # -- construction ---------------------------------------------------------------------------------
    def _faust_app(self) -> faust.App:
        settings, worker = self.settings, self.settings.worker
        holds = any(getattr(p, "HOLDS_RECORDS", False) for p in self.processors.values())
        return faust.App(
            # The app id is the chain's consumer group, prefixed like the topics.
            settings.topics.prefix + self.chain.consumer_group,
            broker=[f"kafka://{server.strip()}" for server in settings.kafka.bootstrap_servers.split(",")],
            broker_client_id=f"{settings.kafka.client_id}-{self.chain.name}",
            key_serializer="raw", value_serializer="raw",
            store="memory://", datadir=str(self.data_dir),
            # Topics are created by `pipeline topology apply` with their declared configs.
            topic_allow_declare=False, topic_disable_leader=True,
            producer_acks=-1, producer_max_request_size=LARGE_RECORD_SIZE,
            producer_linger=worker.producer_linger_ms / 1000.0,
            processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
            stream_buffer_maxsize=worker.stream_buffer_maxsize,
            broker_session_timeout=worker.session_timeout_s,
            broker_heartbeat_interval=min(3.0, worker.session_timeout_s / 3),
            consumer_group_instance_id=(f"{worker.instance_id}-{self.chain.name}" if worker.instance_id else None),
            table_standby_replicas=worker.standby_replicas,
            # Records held by the runtime (retry tiers wait for their delay) must not hold up a
            # rebalance (faust #133): whatever is not acknowledged is read again by the new owner.
            stream_wait_empty=not holds,
            web_enabled=worker.web_port is not None, web_port=worker.web_port or 6066, web_host="127.0.0.1",
            **faust_security(self.settings.kafka),
        )

    def _tables(self, stage: Stage, processor: Processor) -> dict[str, TableState]:
        """The processor's tables: our state over the configured store, inside a Faust Table whose
        changelog is the topology's (Faust assigns and recovers it; our checkpoint writes it)."""
        partitions = self.topology.topics[next(iter(self.chain.stages[0].inputs.values()))].partitions
        out = {}
        for spec in processor.TABLES:
            changelog = stage.tables[spec.name].changelog
            state = TableState(spec, self._backend(f"{stage.name}.{spec.name}"), partitions)
            state.changelog = self.settings.topic(changelog)  # type: ignore[attr-defined]
            table = self.app.Table(
                f"{stage.name}-{spec.name}", default=None, partitions=partitions, store=STORE_URL,
                key_type=bytes, value_type=bytes,
                changelog_topic=self.app.topic(self.settings.topic(changelog), key_type=bytes, value_type=bytes,
                                               key_serializer="raw", value_serializer="raw", partitions=partitions),
            )
            setattr(table, ATTRIBUTE, state)
            self._faust_tables.append(table)
            out[spec.name] = state
        return out

    def _backend(self, name: str):
        store = self.settings.worker.store
        if store.startswith("memory"):
            return MemoryBackend()
        if store.startswith("rocksdb"):
            if self._rocks is None:
                worker = self.settings.worker
                self._rocks = RocksStore(self.data_dir / "state", block_cache_bytes=worker.rocksdb_cache_mb << 20,
                                         write_buffer_bytes=worker.rocksdb_write_buffer_mb << 20)
            return self._rocks.table(name)
        raise SystemExit(f"worker.store {store!r}: choose memory:// or rocksdb://")

    def _event_time(self, chain_name: str) -> None:
        targets = report_targets(self.topology, EVENT_TIME_STAGES)
        first = first_input(self.chain)
        self._first_topic = self.settings.topic(first)
        self._report_to = {self.settings.topic(t) for t in targets.get(chain_name, ())}
        # A chain whose input carries reports passes the watermark on instead of its own progress.
        self._forwarding = any(first in topics for topics in targets.values())
        self._watermarks = Watermarks()
        self._progress = Progress(self.topology.topics[first].partitions) if self._report_to else None
        self._next_offset: dict[int, int] = {}     # first input partition -> after the last handled
        self._reported: set[tuple[str, int]] = set()  # got a report on a batch since the last round
        self._last_activity = 0.0
        self._woken = asyncio.Event()  # set by activity after an idle spell: report at once
        self._fetch_wait_ms = FAUST_FETCH_MAX_WAIT_MS
        self._event_time_tickers = [i for i, r in enumerate(self.executor.runners)
                                    if r.processor.WANTS_EVENT_TIME and r.processor.TICK_INTERVAL_S]
        if self._forwarding:
            for runner in self.executor.runners:
                if runner.processor.WANTS_EVENT_TIME:
                    runner.processor.watermark_ms = self._watermarks.watermark_ms
        if self._progress is not None:
            self.writer.batch_headers = self._batch_report

    def _wire_processors(self) -> None:
        app = self.app
        topics = list(self.executor.entries)
        self._checkpoint_lock = asyncio.Lock()

        # One agent per input topic: a topic whose records wait (a retry tier's delay, a full pool of
        # async work) never holds up another.
        for topic in topics:
            self._agent(topic)
        app.task(self._start_views)
        for index, interval in self.executor.tickers():
            self._tick_wake[index] = asyncio.Event()
            app.task(self._ticker(index, interval))
        app.task(self._checkpointer())
        app.task(self._warm_up)
        if self._progress is not None:
            app.task(self._watermarker)

        @app.on_partitions_revoked.connect
        async def before_partitions_go(_app, revoked, **_kwargs) -> None:
            self._owned = None  # no tick on state that is being handed over
            await self._checkpoint()

        @app.on_before_shutdown.connect
        async def at_shutdown(_app, **_kwargs) -> None:  # consumer stopped, producer not yet
            try:
                await self._checkpoint()
            except Exception:  # noqa: BLE001 - the input is read again: nothing lost
                log.exception("%s: last checkpoint failed", self.chain.name)
            for processor in self.processors.values():
                await processor.aclose()
            self.writer.close()
            if self._rocks is not None:
                self._rocks.flush()  # the next start recovers nothing

        for processor in self.processors.values():
            if hasattr(processor, "output"):
                processor.output = _DurableWriter(self, processor)

        from pipeline.classification.metrics import add_metrics_page

        if self.settings.worker.web_port is not None:
            add_metrics_page(app)

    def _agent(self, topic: str) -> None:
        source = self.app.topic(self.settings.topic(topic), key_type=bytes, value_type=bytes,
                                key_serializer="raw", value_serializer="raw", allow_empty=True)

        @self.app.agent(source, name=f"{self.chain.name}-{topic.replace('.', '-')}")
        async def consume(stream):
            await self._views_ready()
            async for event in stream.noack().events():
                await self._handle(event)

    async def _warm_up(self) -> None:
        written = [self.settings.topic(topic) for stage in self.chain.stages for topic in
                   (*stage.outputs.values(), *(t.changelog for t in stage.tables.values()),
                    *([stage.dead_letters] if stage.dead_letters else []))]
        try:
            await self.writer.warm_up(written)
        except Exception as exc:  # noqa: BLE001 - an optimisation: the first writes fetch it anyway
            log.warning("%s: could not fetch the output topics' metadata ahead: %s", self.chain.name, exc)

    # -- the loop ----------------------------------------------------------------------------------------
    async def _start_views(self) -> None:
        if self._view_targets and self._follower is None:
            self._follower = TopicFollower(self.settings, [self._cluster[t] for t in self._view_targets],
                                           self.chain.name).start()
            await wait_until_caught_up(self._follower, self.chain.name)
            log.info("%s: global views read (%s); processing enabled", self.chain.name,
                     ", ".join(self._cluster[t] for t in self._view_targets))

    async def _views_ready(self) -> None:
        if not getattr(self.app.consumer, "seeks_fully", False):
            self.app.consumer.seeks_fully = True
            self._seek_fully()
            self._drop_stale_fetches()
        while self._view_targets and (self._follower is None or not self._follower.caught_up.is_set()):
            await asyncio.sleep(0.05)
        self._apply_views()

    def _apply_views(self) -> None:
        if self._follower is None:
            return
        targets = self._view_targets
        for record in self._follower.drain():
            for processor, port in targets.get(self.settings.topic(record.topic), ()):
                processor.follow(port, record.key, record.value)

    async def _handle(self, event) -> None:
        message = event.message
        headers = message.headers or []
        headers = list(headers.items()) if isinstance(headers, dict) else list(headers)
        report = next((v for name, v in headers if name == WATERMARK_HEADER), None)
        if report is not None and event.value == EMPTY_BATCH:
            self._observe(message, report)  # a header-only report: nothing else to do
            event.ack()
            return
        if any(name == TAP_HEADER for name, _ in headers):
            event.ack()  # written as a tap by a chain that passed it on in memory: not ours to read
            return
        topic = self._cluster[message.topic]
        index, port = self.executor.entry(topic)
        runner = self.executor.runners[index]
        try:
            items = items_of(event.key, event.value, headers)
        except WireError as exc:
            self._dead_letter(runner.stage, message, headers, None, event.key, event.value,
                              DeadLetter(runner.stage.name, Rejected("WireError", f"unreadable batch record: {exc}")))
            self._completed.append(event)
            return
        batch = is_batch(headers)
        plain_headers = () if batch else tuple(headers)
        self._apply_views()
        now = datetime.now(timezone.utc)
        delay = self.topology.topics[topic].delay_s
        raw = getattr(runner.processor, "RAW_INPUT", False)
        model = None if raw else _model(self.topology, topic)
        outs: list[Output] = []
        pending: list[tuple[int, bytes | None, bytes | None, list[Pending] | None, Record]] = []
        timestamp = (message.timestamp or time.time())
        for position, (key, value) in enumerate(items):
            if model is not None:
                if value is None:
                    self._dead_letter(runner.stage, message, headers, position if batch else None, key, value,
                                      DeadLetter(runner.stage.name, Rejected("EmptyRecord", "record has no value (tombstone)")))
                    continue
                try:
                    decoded = wire.decode(model, value)
                except WireError as exc:
                    self._dead_letter(runner.stage, message, headers, position if batch else None, key, value,
                                      DeadLetter(runner.stage.name, Rejected("WireError", str(exc))))
                    continue
            else:
                decoded = value
            record = Record(key, decoded, port, message.partition, message.offset, timestamp, plain_headers)
            if delay is not None or runner.is_async:
                pending.append((position, key, value, None, record))
                continue
            outcome = self.executor.run(index, record, now, outs)
            if isinstance(outcome, DeadLetter):
                self._dead_letter(self._stage(outcome.stage), message, headers, position if batch else None,
                                  key, value, outcome)
            elif outcome:
                pending.append((position, key, value, outcome, record))
        self._write(outs)
        counted = self._progress is not None and message.topic == self._first_topic
        if counted:
            self._next_offset[message.partition] = message.offset + 1
            self._active()
        if pending:
            progress = None
            if counted:
                progress = (message.partition, self._open_ms(message, timestamp))
                self._progress.started(*progress)
            await self._submit(event, index, topic, delay, pending, headers, batch, progress, report)
        else:
            self._completed.append(event)
            if counted and not self._forwarding:
                self._progress.handled(message.partition, int(timestamp * 1000))
        if report is not None:
            self._observe(message, report, open_=bool(pending))
        for ticker in self.executor.wants_tick(now):
            self._tick_wake[ticker].set()

    # -- event time ---------------------------------------------------------------------------------------
    def _open_ms(self, message, timestamp: float) -> int:
        if not self._forwarding:
            return int(timestamp * 1000)
        known = self._watermarks.watermark_ms(message.partition)
        return (known if known is not None else -1) + 1

    def _observe(self, message, report: bytes, open_: bool = False) -> None:
        """A report read on one of our input partitions, after the records before it were handled."""
        if message.topic != self._first_topic or not self._watermarks.observe(message.partition, report):
            return
        if self._progress is not None and self._forwarding and not open_:
            watermark = self._watermarks.watermark_ms(message.partition)
            if watermark is not None:
                self._progress.handled(message.partition, watermark)
                self._active()
        for index in self._event_time_tickers:
            self._tick_wake[index].set()

    def _active(self) -> None:
        now = time.monotonic()
        if now - self._last_activity > self.settings.worker.watermark_hot_s:
            # The first record after an idle spell: the other partitions' reports must not wait for the
            # idle cadence, or the stage waiting for the watermark waits that long for this record.
            self._woken.set()
        self._last_activity = now

    def _report_values(self) -> dict[int, int]:
        owned = self._owned or frozenset()
        values = self._progress.report(owned)
        if not self._forwarding:
            now_ms = int(time.time() * 1000)
            lateness = self.settings.worker.watermark_lateness_ms
            for partition in owned:
                if self._progress.busy(partition):
                    continue
                polled_ms = self._caught_up_at(partition)
                if polled_ms is not None:
                    values[partition] = max(values.get(partition, -1), min(now_ms, polled_ms) - lateness)
        return values

    def _caught_up_at(self, partition: int) -> int | None:
        """When the partition was last seen holding nothing this worker has not handled: the time
        (ms) of the fetch response whose highwater showed it, None if it holds more. A record not in
        that highwater was appended after the response; received more than watermark_lateness_ms
        before it, it is late (its group may flush without it). Reads aiokafka's highwater,
        position and poll timestamp and Faust's read offset (set once a record was handed to the
        agents; after a seek, the offset sought to), see docs/faust.md."""
        from faust.types import TP

        tp = TP(self._first_topic, partition)
        try:
            consumer = self.app.consumer._thread._ensure_consumer()
            state = consumer._subscription.subscription.assignment.state_value(tp)
        except Exception:  # noqa: BLE001 - not assigned (rebalancing): not known to be caught up
            return None
        if state is None or state.highwater is None or state.timestamp is None:
            return None
        highwater, polled_ms = state.highwater, state.timestamp
        read = self.app.consumer._read_offset.get(tp)
        if read is None:  # nothing handed on since a seek to the partition's beginning
            position = getattr(state, "_position", None)
            return polled_ms if position is not None and position >= highwater else None
        if read >= highwater:  # the offset sought to, nothing handed on since
            return polled_ms
        handled = self._next_offset.get(partition)
        return polled_ms if handled is not None and handled > read and read + 1 >= highwater else None

    def _set_fetch_wait(self) -> None:
        """The consumer's fetches come back after watermark_fetch_wait_ms at most (not Faust's 1.5 s)
        even when no record came: the poll timestamps of idle partitions, which bound what they
        report, keep up with the partitions that got records."""
        wait_ms = self.settings.worker.watermark_fetch_wait_ms
        if wait_ms == self._fetch_wait_ms:
            return
        try:
            fetcher = self.app.consumer._thread._ensure_consumer()._fetcher
        except Exception:  # noqa: BLE001 - not started yet: tried again at the next round
            return
        if fetcher is not None:
            fetcher._fetch_max_wait_ms = wait_ms  # read when the next fetch request is made
            self._fetch_wait_ms = wait_ms

    def _batch_report(self, topic: str, partition: int) -> list[tuple[str, bytes]]:
        if topic not in self._report_to or not self._owned:
            return []
        values = self._report_values()
        if not values:
            return []
        self._reported.add((topic, partition))
        return [(WATERMARK_HEADER, encode_report(self._progress.partitions, values))]

    async def _watermarker(self) -> None:
        """Header-only reports to every partition of the report targets that got none on a batch
        since the last round: often while busy, seldom when idle."""
        worker = self.settings.worker
        partitions = {t: self.topology.topics[self._cluster[t]].partitions for t in self._report_to}
        while True:
            hot = time.monotonic() - self._last_activity <= worker.watermark_hot_s
            if not self._forwarding:
                self._set_fetch_wait()
            if hot:
                await asyncio.sleep(worker.watermark_interval_s)
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), worker.watermark_idle_interval_s)
            self._woken.clear()
            if not self._settled() or not self._owned:
                continue
            self._progress.forget(self._owned)
            values = self._report_values()
            if not values:
                continue
            # An empty batch: readers of the topic other than the chains see no record in it.
            header = [*BATCH_HEADERS, (WATERMARK_HEADER, encode_report(self._progress.partitions, values))]
            reported, self._reported = self._reported, set()
            for topic, count in partitions.items():
                for partition in range(count):
                    if (topic, partition) not in reported:
                        self.writer.write(topic, None, EMPTY_BATCH, header, partition=partition)

    async def _submit(self, event, index: int, topic: str, delay: float | None, pending, headers, batch: bool,
                      progress: tuple[int, int] | None = None, report: bytes | None = None) -> None:
        """Async work and delayed records: each item runs in the in-flight pool of its topic; the event
        is done once all its items are."""
        left = [len(pending)]
        in_flight = self._pool(topic, self.executor.runners[index].processor)
        message = event.message

        def one_done() -> None:
            left[0] -= 1
            if left[0] == 0:
                self._completed.append(event)
                if progress is not None:
                    self._progress_finished(progress, report)

        for position, key, value, continuation, record in pending:
            async def work(record=record, continuation=continuation, position=position, key=key, value=value):
                if delay is not None:
                    wait = record.timestamp + delay - time.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                outs: list[Output] = []
                now = datetime.now(timezone.utc)
                steps = continuation
                if steps is None:
                    outcome = self.executor.run(index, record, now, outs)
                    steps = outcome if isinstance(outcome, list) else None
                    if isinstance(outcome, DeadLetter):
                        return outs, outcome, position, key, value
                dead = await self.executor.finish(list(steps), now, outs) if steps else None
                return outs, dead, position, key, value

            async def deliver(result) -> None:
                outs, dead, position, key, value = result
                if dead is not None:
                    self._dead_letter(self._stage(dead.stage), message, headers, position if batch else None,
                                      key, value, dead)
                self._write(outs)
                one_done()

            await in_flight.submit(key if self.executor.runners[index].processor.ORDERED_BY_KEY else object(),
                                   work, deliver)

    def _progress_finished(self, progress: tuple[int, int], report: bytes | None) -> None:
        partition, open_ms = progress
        handled = open_ms
        if self._forwarding:
            handled = self._watermarks.watermark_ms(partition) if report is not None else open_ms - 1
            handled = open_ms - 1 if handled is None else handled
        self._progress.finished(partition, open_ms, handled)

    def _pool(self, topic: str, processor: Processor) -> KeyedInFlight:
        pool = self._in_flight.get(topic)
        if pool is None:
            pool = self._in_flight[topic] = KeyedInFlight(processor.MAX_IN_FLIGHT)
        return pool

    def _stage(self, name: str) -> Stage:
        return self.topology.stages[name]

    def _write(self, outs: Sequence[Output]) -> None:
        topic_of = self.settings.topic
        for out in outs:
            value = out.value
            if value is not None and not isinstance(value, (bytes, bytearray)):
                value = wire.encode(value)
            self.writer.write(topic_of(out.topic), out.key, value, out.headers or None, tap=out.tap,
                              partition=out.partition)

    def _dead_letter(self, stage: Stage, message, headers, position: int | None, key, value, dead: DeadLetter) -> None:
        if stage.dead_letters is None:
            log.error("%s rejected %s[%d]@%d and has no dead_letters topic: %s", stage.name, message.topic,
                      message.partition, message.offset, dead.rejected.reason)
            return
        original = list(headers)
        if position is not None:  # an item of a batch: dead-lettered alone, as a plain record
            original = [(k, v) for k, v in original if k != BATCH_HEADER] + [(ITEM_INDEX_HEADER, str(position).encode())]
        log.warning("%s dead-letters %s[%d]@%d%s: %s", dead.stage, message.topic, message.partition,
                    message.offset, f" item {position}" if position is not None else "", dead.rejected.reason)
        out_headers = dead_letter_headers(
            stage=dead.stage, reason=dead.rejected.reason, error_class=dead.rejected.error_class,
            topic=message.topic, partition=message.partition, offset=message.offset, original_headers=original)
        self.writer.write(self.settings.topic(stage.dead_letters), key, value, out_headers)

    # -- timers ---------------------------------------------------------------------------------------------
    def _seek_fully(self) -> None:
        """Make Faust's seek to the committed offsets cover every input partition (a Faust
        workaround, docs/faust.md). While a table recovers, aiokafka keeps fetching the input
        partitions and Faust drops what it fetched for them; then Faust seeks each back to its
        committed offset — but aiokafka's seek_to_committed skips partitions whose offset is 0 or
        unknown, which stay past the dropped records (alerts posted while a fresh worker
        recovered were never read). Such partitions are sought to their beginning, which is where
        auto_offset_reset=earliest reads them from anyway."""
        consumer = self.app.consumer
        faust_seek = consumer.perform_seek
        sources = {self.settings.topic(t) for t in self.executor.entries}

        async def perform_seek() -> None:
            inputs = [tp for tp in consumer.assignment() if tp.topic in sources]
            self._new_seek_round(inputs)
            self._seek_inputs = inputs
            # Until the flow resumes every input record fetched is dropped and its partition sought
            # again then: Faust resumes the flow after this seek by clearing the streams' queues, so
            # a record handed on meanwhile would be gone with Faust's read offset already past it.
            self._seeking = True
            try:
                await faust_seek()
                unseen = [_aiokafka_tp(tp) for tp in inputs if not consumer._committed_offset.get(tp)]
                if unseen:
                    await self._on_consumer_thread("seek_to_beginning", *unseen)
                for tp in inputs:
                    self._resume_at[tp] = consumer._read_offset.get(tp)  # None: from the beginning
            except BaseException:
                self._seeking = False  # Faust starts the rebalance's recovery again
                raise

        consumer.perform_seek = perform_seek
        flow = self.app.flow_control
        faust_resume = flow.resume

        def resume() -> None:
            faust_resume()
            if self._seeking:
                self._seeking = False
                again = [tp for tp in self._seek_inputs if tp in self._reseek]
                self._reseek.intersection_update(again)  # partitions no longer assigned are not sought
                if again:
                    self._reseeking = asyncio.ensure_future(self._seek_dropped(again))

        flow.resume = resume

    async def _seek_dropped(self, tps: list) -> None:
        """Seek the partitions whose records were dropped while the rebalance's seek was under way to
        where that seek put them (the fetches that returned those records moved the consumer on)."""
        for tp in tps:
            try:
                await self._seek_again(tp)
            except Exception:  # noqa: BLE001 - a stuck consumer is worse: the next rebalance seeks again
                log.exception("%s: could not seek %s[%d] again", self.chain.name, tp.topic, tp.partition)
            self._reseek.discard(tp)  # dropped until now; from here on the seek round tells

    def _drop_stale_fetches(self) -> None:
        """Read again, from where the seek left them, the partitions whose records came from a
        fetch begun before a seek (a Faust workaround, docs/faust.md). Faust hands on the records of
        a fetch that was asked for before the rebalance's seek back to the committed offsets: they
        move its read offset past the records the seek was for, and it then drops those records
        when they are fetched again (alerts that reached the group stage while a fresh group worker
        took over were never grouped). Such records are not handed on; their partition is sought
        to the offset after the last record handed on since the seek (or the offset sought to):
        at once, or, while the rebalance's seek is under way, once the flow resumes after it
        (until then the partition's records are dropped). Every seek, Faust's or this one, starts a
        new round: records of a fetch begun in an earlier round are stale. While the rebalance's
        seek is under way, every input record is dropped (see ``_seek_fully``)."""
        consumer = self.app.consumer
        faust_getmany = consumer.getmany
        sought, resume_at, reseek = self._sought, self._resume_at, self._reseek

        async def getmany(timeout: float):
            began = self._seek_round  # the fetch may wait for the flow first: a seek then counts too
            stale: set = set()
            dropped = 0
            async for tp, message in faust_getmany(timeout=timeout):
                round_ = sought.get(tp)
                if round_ is None:  # not an input partition
                    yield tp, message
                elif round_ <= began and tp not in reseek and not self._seeking:
                    resume_at[tp] = message.offset + 1
                    yield tp, message
                else:
                    dropped += 1
                    if tp not in stale:
                        stale.add(tp)
                        if self._seeking:
                            reseek.add(tp)
                        elif tp not in reseek:
                            await self._seek_again(tp)
            if stale:
                log.info("%s: %d records fetched before a seek not handed on; read again from %s",
                         self.chain.name, dropped,
                         ", ".join(f"{tp.topic}[{tp.partition}]@{_or_start(resume_at.get(tp), tp in reseek)}"
                                   for tp in stale))

        consumer.getmany = getmany

    def _new_seek_round(self, tps) -> None:
        """Called before a seek of ``tps`` is asked for: records of a fetch begun before it are stale."""
        self._seek_round += 1
        for tp in tps:
            self._sought[tp] = self._seek_round

    async def _seek_again(self, tp) -> None:
        self._new_seek_round((tp,))
        offset = self._resume_at.get(tp)
        if offset is None:
            await self._on_consumer_thread("seek_to_beginning", _aiokafka_tp(tp))
        else:
            await self._on_consumer_thread("seek", _aiokafka_tp(tp), offset)
        self.app.consumer._read_offset[tp] = offset  # what Faust's own seek sets: records from it on are handed on

    async def _on_consumer_thread(self, method: str, *args) -> None:
        """Call a method of the aiokafka consumer on Faust's consumer thread, where it runs."""
        thread = self.app.consumer._thread
        await thread.call_thread(getattr(thread._ensure_consumer(), method), *args)

    async def _pause_changelogs(self) -> None:
        """Stop the consumer from fetching the tables' changelogs once recovery read them (a Faust
        workaround, docs/faust.md): Faust keeps an active table's changelog partitions assigned and
        fetched but never hands them on, and aiokafka then holds the whole broker's fetches back
        behind those unread records — the other partitions' records waited for seconds."""
        generation = self.app.consumer_generation_id
        if generation == self._paused_generation or not self.app.tables.recovery.completed.is_set():
            return
        names = {t.changelog for t in self.executor.tables()}  # type: ignore[attr-defined]
        tps = [_aiokafka_tp(tp) for tp in self.app.consumer.assignment() if tp.topic in names]
        if tps:
            try:
                await self._on_consumer_thread("pause", *tps)
            except Exception:  # noqa: BLE001 - only latency depends on it; the next checkpoint tries again
                log.exception("%s: could not pause the changelog partitions", self.chain.name)
                return
        self._paused_generation = generation

    def _settled(self) -> bool:
        """Whether timers may act now: not rebalancing, tables recovered, views read; on a new
        assignment, the tables learn what they own and the processors are told."""
        app = self.app
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return False
        if self._view_targets and (self._follower is None or not self._follower.caught_up.is_set()):
            return False
        first = self.settings.topic(next(iter(self.chain.stages[0].inputs.values())))
        owned = frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == first)
        if owned != self._owned:
            for runner in self.executor.runners:
                for table in runner.state.values():
                    table.owned = owned
                runner.processor.on_assign(owned, runner.state)
            log.info("%s: owning partitions %s", self.chain.name, sorted(owned))
            self._owned = owned
        return True

    def _ticker(self, index: int, interval: float):
        async def run() -> None:
            wake = self._tick_wake[index]
            while True:
                try:
                    await asyncio.wait_for(wake.wait(), timeout=interval)
                    await asyncio.sleep(self.settings.worker.tick_gather_s)  # a burst of due work in one tick
                except asyncio.TimeoutError:
                    pass
                wake.clear()
                if not self._settled():
                    continue
                self._apply_views()
                outs: list[Output] = []
                for problem in self.executor.tick(index, datetime.now(timezone.utc), outs):
                    if isinstance(problem, list):  # async stages after a ticking one
                        dead = await self.executor.finish(problem, datetime.now(timezone.utc), outs)
                        if dead is not None:
                            log.error("%s: a record from a tick was rejected: %s", dead.stage, dead.rejected.reason)
                    else:
                        log.error("%s: a record from a tick was rejected: %s", problem.stage, problem.rejected.reason)
                self._write(outs)
                if self.executor.tables():
                    self._checkpoint_wake.set()
        return run

    # -- checkpoints ------------------------------------------------------------------------------------
    def _checkpointer(self):
        async def run() -> None:
            interval = self.settings.worker.checkpoint_interval_s
            while True:
                try:
                    await asyncio.wait_for(self._checkpoint_wake.wait(), timeout=interval)
                except asyncio.TimeoutError:
                    pass
                self._checkpoint_wake.clear()
                if self.executor.tables():
                    await self._pause_changelogs()
                await self._checkpoint()
                await asyncio.sleep(self.settings.worker.checkpoint_min_gap_s)
        return run

    async def _checkpoint(self) -> None:
        async with self._checkpoint_lock:  # one at a time: a rebalance's waits for the one under way
            await self._checkpoint_once()

    async def _checkpoint_once(self) -> None:
        events, self._completed = self._completed, []
        tables = [t for t in self.executor.tables() if t.dirty()]
        if not events and not tables:
            return
        frozen = [t.freeze() for t in tables]
        await self.writer.barrier()  # the emits of everything frozen are on the broker
        logged = False
        for part in frozen:
            topic = part.table.changelog  # type: ignore[attr-defined]
            for change in part.changelog():
                self.writer.write(topic, change.key, change.value, partition=change.partition)
                logged = True
        if logged:
            await self.writer.barrier()
        for part in frozen:
            topic = part.table.changelog  # type: ignore[attr-defined]
            offsets = {p: o for (t, p), o in self.writer.offsets.items() if t == topic}
            part.table.commit(part, offsets)
        for processor in self.processors.values():
            await processor.flush()
        for event in events:
            event.ack()

    async def _stop_worker(self, reason: str) -> None:
        await self.app.crash(RuntimeError(reason))

    # -- running ------------------------------------------------------------------------------------------
    def missing_topics(self) -> list[str]:
        from pipeline.runtime.admin import admin_client

        names = [t for stage in self.chain.stages for t in stage.topics()]
        present = admin_client(self.settings.kafka).list_topics(timeout=self.settings.kafka.request_timeout_s).topics
        return [self.settings.topic(n) for n in dict.fromkeys(names) if self.settings.topic(n) not in present]

    def run(self) -> None:
        """Run the worker until SIGTERM/SIGINT (blocks); refuses to start without its topics."""
        from faust.worker import Worker

        missing = self.missing_topics()
        if missing:
            # Faust would otherwise retry "topic not found" forever; workers never create topics.
            raise SystemExit(f"chain {self.chain.name!r}: topics missing on the cluster: {', '.join(missing)}; "
                             "run `pipeline topology apply`")
        logging.getLogger("librdkafka").setLevel(logging.WARNING)
        Worker(self.app, loglevel=self.settings.log_level.lower(), quiet=True).execute_from_commandline()


class _DurableWriter:
    """``processor.output`` of async processors that must write now, in order with other effects
    (the sink's retries and dead letters around its ledger): returns once the broker has them."""

    def __init__(self, worker: ChainWorker, processor: Processor):
        stage = next(r.stage for r in worker.executor.runners if r.processor is processor)
        self._topics = {port: worker.settings.topic(topic) for port, topic in stage.outputs.items()}
        self._writer = worker.writer

    async def send(self, port: str, key: bytes | None, value: bytes, headers: tuple = ()) -> None:
        await self._writer.send_and_wait([OutgoingRecord(self._topics[port], key, value, tuple(headers))])


def faust_security(kafka) -> dict[str, Any]:
    """Faust's (aiokafka's) side of the Kafka security settings every client uses."""
    import ssl

    protocol = kafka.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return {}
    context = None
    if "SSL" in protocol:
        context = ssl.create_default_context(cafile=str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None)
        if kafka.ssl_certificate_location:
            context.load_cert_chain(str(kafka.ssl_certificate_location),
                                    str(kafka.ssl_key_location) if kafka.ssl_key_location else None,
                                    kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None)
    if protocol.startswith("SASL"):
        credentials = faust.SASLCredentials(
            username=kafka.sasl_username, password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism or "PLAIN", ssl_context=context)
    else:
        credentials = faust.SSLCredentials(context)
    return {"broker_credentials": credentials}


def _aiokafka_tp(tp):
    from aiokafka.structs import TopicPartition

    return TopicPartition(tp.topic, tp.partition)


def _or_start(offset: int | None, pending: bool = False) -> str:
    if pending:
        return "where the seek under way puts it"
    return "the beginning" if offset is None else str(offset)


def _model(topology: Topology, topic: str):
    schema = topology.topics[topic].schema_name
    return RECORD_MODELS.get(schema) if schema else None


def run_chain(chain: str, settings: Settings) -> None:
    ChainWorker(chain, settings).run()

