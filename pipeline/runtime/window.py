"""Reading a declared topic from a point in time: the records written since ``since_ms``, up to the end
offsets the reader saw when it started (so it finishes even while the topic keeps growing).

What :func:`pipeline.runtime.reader.read_topic` does from the beginning, from a timestamp instead, for
questions about the recent past (``pipeline silence preview``: which notifications a silence would have
muted; the what-if replay). Each partition starts at the first offset whose record timestamp is at or
after ``since_ms`` (the broker's time index: ``offsets_for_times``), so hours of a week-long topic cost
only the hours read. Record timestamps are the producers' CreateTime; callers that need the exact
window filter on the record's own time as well.

Bounded: at most ``max_records`` decoded records (batch items count one each) and ``max_seconds`` of
reading; :class:`WindowRead` says which bound, if any, stopped it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition

from pipeline.models import RECORD_MODELS
from pipeline.runtime.admin import RDKAFKA_LOGGER
from pipeline.runtime.reader import TopicRecord, _records
from pipeline.settings import Settings
from pipeline.topology import load_topology


@dataclass
class WindowRead:
    """The progress of one read: filled in while iterating, final once the iterator is exhausted."""

    topic: str
    since_ms: int
    max_records: int
    max_seconds: float
    records: int = 0  # decoded records handed out
    capped: str | None = None  # "records" or "time" when a bound stopped the read before the end
    partitions: int = 0
    earliest_ms: int | None = None  # timestamp of the first record read (None: nothing in the window)


def read_window(settings: Settings, name: str, since_ms: int, *, max_records: int, max_seconds: float,
                progress: WindowRead | None = None) -> Iterator[TopicRecord]:
    """Records of the declared topic ``name`` written at or after ``since_ms`` (epoch milliseconds).

    ``progress`` (optional) is updated as records are read; pass one to learn whether a bound capped
    the read. Raises ValueError for an undeclared or missing topic, RuntimeError on a broker error.
    """
    topology = load_topology(settings.topics.topology_file)
    if name not in topology.topics:
        raise ValueError(f"{name!r} is not a topic of {topology.source}")
    schema = topology.topics[name].schema_name
    model = RECORD_MODELS.get(schema) if schema else None
    state = progress or WindowRead(name, since_ms, max_records, max_seconds)
    timeout = settings.kafka.request_timeout_s
    deadline = time.monotonic() + max_seconds
    consumer = Consumer({
        **settings.kafka.client_config(),
        "group.id": f"pipeline-window-{uuid.uuid4().hex[:8]}",  # a reader, never a member of a stage's group
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "logger": RDKAFKA_LOGGER,
        # The end offsets decide when a partition is done; EOF also ends one whose last offsets hold
        # no record to hand out (transaction markers).
        "enable.partition.eof": True,
    })
    cluster_name = settings.topic(name)
    try:
        metadata = consumer.list_topics(cluster_name, timeout=timeout)
        partitions = sorted(metadata.topics[cluster_name].partitions)
        if not partitions:
            raise ValueError(f"topic {cluster_name} does not exist on the cluster (run `pipeline topology apply`)")
        starts = consumer.offsets_for_times([TopicPartition(cluster_name, p, since_ms) for p in partitions],
                                            timeout=timeout)
        assignment: list[TopicPartition] = []
        end: dict[int, int] = {}
        for start in starts:
            if start.error is not None:
                raise RuntimeError(f"reading {cluster_name}[{start.partition}]: {start.error}")
            if start.offset < 0:  # no record at or after since_ms
                continue
            _, high = consumer.get_watermark_offsets(TopicPartition(cluster_name, start.partition), timeout=timeout)
            if start.offset < high:
                assignment.append(TopicPartition(cluster_name, start.partition, start.offset))
                end[start.partition] = high
        state.partitions = len(assignment)
        if not assignment:
            return
        consumer.incremental_assign(assignment)
        while end:
            if time.monotonic() >= deadline:
                state.capped = "time"
                return
            message = consumer.poll(min(1.0, max(0.0, deadline - time.monotonic())))
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    end.pop(message.partition(), None)
                    continue
                raise RuntimeError(f"reading {cluster_name}: {message.error().str()}")
            partition = message.partition()
            if partition not in end:
                continue
            for record in _records(message, name, model):
                if state.records >= max_records:
                    state.capped = "records"
                    return
                state.records += 1
                if state.earliest_ms is None or record.timestamp_ms < state.earliest_ms:
                    state.earliest_ms = record.timestamp_ms
                yield record
            if message.offset() + 1 >= end[partition]:
                end.pop(partition)
                if end:
                    consumer.incremental_unassign([TopicPartition(cluster_name, partition)])
    finally:
        consumer.close()
