"""The Faust application every stage worker runs, configured from the settings and the topology."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import faust

from pipeline.dead_letters import Rejected, dead_letter_headers
from pipeline.runtime.partitioning import partition_of
from pipeline.settings import Settings
from pipeline.runtime.housekeeping import install_housekeeping
from pipeline.topology import Stage, Topology, load_topology
from pipeline.topology.model import LARGE_RECORD_SIZE
from pipeline.wire.batch import BATCH_HEADER, BATCHED_TOPICS, ITEM_INDEX_HEADER, is_batch, items_of
from pipeline.wire.errors import WireError

log = logging.getLogger(__name__)


class StageApp:
    """A Faust app for one stage, with its declared topics resolved to cluster names."""

    def __init__(self, stage_name: str, settings: Settings, topology: Topology | None = None):
        self.settings = settings
        self.topology = topology or load_topology(settings.topics.topology_file)
        if stage_name not in self.topology.stages:
            raise ValueError(f"{stage_name!r} is not a stage of {self.topology.source}")
        self.stage: Stage = self.topology.stages[stage_name]
        self._tables: list[faust.Table] = []
        self._tables_ready = False
        worker = settings.worker
        (worker.data_dir / stage_name).mkdir(parents=True, exist_ok=True)  # Faust creates only the leaf
        self.app = faust.App(
            # The app id is the consumer group: one group per stage, prefixed like the topics.
            settings.topics.prefix + self.stage.consumer_group,
            broker=[f"kafka://{server.strip()}" for server in settings.kafka.bootstrap_servers.split(",")],
            broker_client_id=f"{settings.kafka.client_id}-{stage_name}",
            key_serializer="raw",
            value_serializer="raw",
            store=worker.store,
            datadir=str(worker.data_dir / stage_name),
            # Topics are created by `pipeline topology apply` with their declared configs;
            # a worker must not create them with defaults.
            topic_allow_declare=False,
            topic_disable_leader=True,
            producer_acks=-1,
            # Table values and notifications grow with a group (as the topology allows them to).
            producer_max_request_size=LARGE_RECORD_SIZE,
            # Without linger every record is its own produce request (acks=all): the socket writes
            # then dominate each stage's CPU. A few ms batch them at a latency cost per hop.
            producer_linger=worker.producer_linger_ms / 1000.0,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            stream_buffer_maxsize=worker.stream_buffer_maxsize,
            broker_session_timeout=worker.session_timeout_s,
            broker_heartbeat_interval=min(3.0, worker.session_timeout_s / 3),
            consumer_group_instance_id=(f"{worker.instance_id}-{stage_name}" if worker.instance_id else None),
            web_enabled=worker.web_port is not None,
            web_port=worker.web_port or 6066,
            web_host="127.0.0.1",
        )
        self._output = None
        self._rebuilt_for: dict[str, set[int]] = {}  # settled(): partitions each rebuild was for

        install_housekeeping(self.app, settings.log_level)

    def topic(self, name: str) -> faust.TopicT:
        """A declared topic as raw bytes in and out (the stages do their own decoding)."""
        if name not in self.topology.topics:
            raise ValueError(f"topic {name!r} is not declared in {self.topology.source}")
        return self.app.topic(
            self.settings.topic(name), key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw", allow_empty=True,
        )

    @property
    def output(self):
        """The confluent-kafka output of agents that read ``stream.noack()`` (see stages/output.py)."""
        if self._output is None:
            import atexit

            from pipeline.runtime.output import StageOutput

            async def stop_worker(reason: str) -> None:
                await self.app.crash(RuntimeError(reason))

            batched = {self.settings.topic(name): self.topology.topics[name].partitions
                       for name in BATCHED_TOPICS if name in self.topology.topics}
            self._output = StageOutput(self.settings, stop_worker, batched)
            atexit.register(self._output.close)  # in-flight records out before the process ends
        return self._output

    def out(self, topic: str, key: bytes | None, value: bytes | None, headers=None) -> tuple:
        """One output record of a declared topic, for ``output.emit``."""
        if topic not in self.topology.topics:
            raise ValueError(f"topic {topic!r} is not declared in {self.topology.source}")
        return (self.settings.topic(topic), key, value, headers)

    def dead_letter_record(self, event, rejected: Rejected, item: tuple[int, bytes | None, bytes | None] | None = None
                           ) -> tuple:
        """The alerts.dlq record for the event being processed: original key, value, headers, and why.

        ``item`` (index, key, value) names the record of the event that was rejected: when the event
        is a batch record, the dead letter is that item alone, as a plain record, with its index in
        the batch beside the batch's offset.
        """
        message = event.message
        original = message.headers or []
        original = list(original.items()) if isinstance(original, dict) else list(original)
        key, value = event.key, event.value
        if item is not None and not is_batch(original):
            item = None  # a plain record: the event itself
        if item is not None:
            index, key, value = item
            original = [(k, v) for k, v in original if k != BATCH_HEADER] + [(ITEM_INDEX_HEADER, str(index).encode())]
        log.warning("%s dead-letters %s[%d]@%d%s: %s", self.stage.name, message.topic, message.partition,
                    message.offset, f" item {item[0]}" if item is not None else "", rejected.reason)
        headers = dead_letter_headers(
            stage=self.stage.name, reason=rejected.reason, error_class=rejected.error_class,
            topic=message.topic, partition=message.partition, offset=message.offset, original_headers=original,
        )
        return self.out("alerts.dlq", key, value, headers)

    def items(self, event) -> list[tuple[bytes | None, bytes | None]] | Rejected:
        """The records an input event stands for: the items of a batch record, or the record itself."""
        try:
            return items_of(event.key, event.value, event.message.headers)
        except WireError as exc:
            return Rejected("WireError", f"unreadable batch record: {exc}")

    async def process(self, event, handle: Callable[[bytes | None, bytes | None], Sequence[tuple] | Rejected],
                      finish: Callable[[], Sequence[tuple]] | None = None) -> None:
        """Run ``handle(key, value)`` on every record of an input event and write what it returns
        (output records, or Rejected: that record is dead-lettered), then what ``finish()`` returns
        (records that sum up the whole event, e.g. one table write per key it touched); the event is
        acknowledged once all of it is on the broker."""
        items = self.items(event)
        if isinstance(items, Rejected):
            await self.output.emit(event, [self.dead_letter_record(event, items)])
            return
        records: list[tuple] = []
        for index, (key, value) in enumerate(items):
            outcome = handle(key, value)
            if isinstance(outcome, Rejected):
                records.append(self.dead_letter_record(event, outcome, (index, key, value)))
            else:
                records.extend(outcome)
        if finish is not None:
            records.extend(finish())
        await self.output.emit(event, records)

    @staticmethod
    def lookup(table: faust.Table, key: bytes) -> bytes | None:
        """A table entry read from its store: ``table.get`` also calls every Faust sensor per read
        (one of the group stage's top functions in bench/e2e's profile)."""
        return table.data.get(key)

    def store(self, table: faust.Table, key: bytes, value: bytes | None) -> tuple:
        """Set (or with None delete) a table entry in memory and return its changelog record, to be
        written with the event's other output: one confluent-kafka write instead of Faust's
        per-entry send, acknowledged together with the event (a crash replays both)."""
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
        return (table.changelog_topic.get_topic_name(), key, value, None)

    def table(self, name: str) -> faust.Table:
        """A declared table of this stage: raw bytes keys and values, changelog from the topology."""
        if name not in self.stage.tables:
            raise ValueError(f"table {name!r} is not declared for stage {self.stage.name!r}")
        partitions = self.topology.topics[self.stage.inputs[0]].partitions
        table = self._new_table(name, partitions)
        self._tables.append(table)
        return table

    async def tables_ready(self) -> None:
        """Wait until the producer knows every table's changelog partitions (call before first use).

        Topics are not declared by workers (topology apply creates them), so Faust never fetches
        their metadata; keyed changelog writes need it to pick a partition.
        """
        if self._tables_ready:
            return
        producer = self.app.producer._ensure_producer()
        for table in self._tables:
            await producer.partitions_for(table.changelog_topic.get_topic_name())
        self._tables_ready = True

    def _new_table(self, name: str, partitions: int) -> faust.Table:
        # use_partitioner: the changelog partition follows the key (murmur2, like every producer of
        # this project), not the current event, so timers may modify the table too (expiry, flushes).
        return self.app.Table(
            name, default=None, partitions=partitions, use_partitioner=True,
            key_type=bytes, value_type=bytes,  # raw: the app serializes keys and values as raw bytes
        )

    def owned_partitions(self, topic: str) -> set[int] | None:
        """This worker's active partitions of a declared input topic; None while rebalancing or
        recovering tables (timers must not act on state that is being handed over)."""
        app = self.app
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return None
        name = self.settings.topic(topic)
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}

    async def settled(self, topic: str, rebuild: Callable[[set[int]], None]) -> bool:
        """Whether timers may act on this worker's partitions of ``topic`` now; when they changed since
        the last call, ``rebuild(owned)`` first (in-memory state derived from the tables: dedup's
        expiry index, group's aggregation groups)."""
        owned = self.owned_partitions(topic)
        if owned is None:
            return False
        await self.tables_ready()
        if owned != self._rebuilt_for.get(topic):
            rebuild(owned)
            self._rebuilt_for[topic] = owned
        return True

    def owned_items(self, table: faust.Table, owned: set[int]):
        """(key, value) of the table entries in ``owned`` partitions: a standby copy held for another
        worker is not this worker's to act on."""
        partitions = self.topology.topics[self.stage.inputs[0]].partitions
        for key, value in list(table.data.items()):  # the store itself: no Faust sensor call per entry
            if partition_of(key, partitions) in owned:
                yield key, value

    def missing_topics(self) -> list[str]:
        """Declared topics of this stage (inputs, outputs, reads, table changelogs) absent on the cluster."""
        from pipeline.runtime.admin import admin_client
        from pipeline.topology.model import changelog_topic_name

        stage = self.stage
        names = [*stage.inputs, *stage.outputs, *stage.reads,
                 *(changelog_topic_name(stage, table) for table in stage.tables)]
        present = admin_client(self.settings.kafka).list_topics(timeout=self.settings.kafka.request_timeout_s).topics
        return [self.settings.topic(n) for n in names if self.settings.topic(n) not in present]

    def run(self) -> None:
        """Run the worker until SIGTERM/SIGINT (blocks); refuses to start without its topics."""
        from faust.worker import Worker

        missing = self.missing_topics()
        if missing:
            # Faust would otherwise retry "topic not found" forever; workers never create topics.
            raise SystemExit(f"stage {self.stage.name!r}: topics missing on the cluster: {', '.join(missing)}; "
                             "run `pipeline topology apply`")

        level = self.settings.log_level.lower()
        logging.getLogger("librdkafka").setLevel(logging.WARNING)
        Worker(self.app, loglevel=level, quiet=True).execute_from_commandline()
