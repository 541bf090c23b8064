"""Reading a declared topic decoded with its schema: `pipeline tail` and tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from pipeline import wire
from pipeline.dead_letters import header_dict
from pipeline.runtime.admin import RDKAFKA_LOGGER
from pipeline.models import RECORD_MODELS, WireRecord, to_builtins
from pipeline.settings import Settings
from pipeline.topology import load_topology
from pipeline.wire.batch import BATCH_HEADER, ITEM_INDEX_HEADER, is_batch, items_of


@dataclass(frozen=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    headers: dict[str, str]
    value: Any          # the decoded model, or the raw bytes for schema-less topics
    error: str | None = None  # why the value could not be decoded

    def as_json(self) -> dict[str, Any]:
        value = to_builtins(self.value) if isinstance(self.value, WireRecord) else (
            self.value.decode("utf-8", "replace") if isinstance(self.value, bytes) else self.value)
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset,
                "timestamp_ms": self.timestamp_ms, "key": self.key, "headers": self.headers,
                "value": value, **({"error": self.error} if self.error else {})}


def read_topic(settings: Settings, name: str, *, from_beginning: bool = True, follow: bool = False,
               idle_timeout_s: float = 10.0, max_records: int | None = None) -> Iterator[TopicRecord]:
    """Records of a declared topic, up to the end of every partition (or forever when following).

    ``idle_timeout_s`` only guards against a broker that stops answering.
    """
    topology = load_topology(settings.topics.topology_file)
    if name not in topology.topics:
        raise ValueError(f"{name!r} is not a topic of {topology.source}; choose from {', '.join(topology.topics)}")
    schema = topology.topics[name].schema_name
    model = RECORD_MODELS.get(schema) if schema else None
    consumer = Consumer({
        **settings.kafka.client_config(),
        "group.id": f"pipeline-tail-{uuid.uuid4().hex[:8]}",  # a reader, never a member of a stage's group
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "logger": RDKAFKA_LOGGER,
        "enable.partition.eof": True,  # "read to the end" must not depend on how fast a fetch returns
    })
    cluster_name = settings.topic(name)
    try:
        metadata = consumer.list_topics(cluster_name, timeout=settings.kafka.request_timeout_s)
        partitions = metadata.topics[cluster_name].partitions
        if not partitions:
            raise ValueError(f"topic {cluster_name} does not exist on the cluster (run `pipeline topology apply`)")
        offset = -2 if from_beginning else -1  # OFFSET_BEGINNING / OFFSET_END
        consumer.assign([TopicPartition(cluster_name, p, offset) for p in partitions])
        seen = 0
        at_end: set[int] = set()
        while max_records is None or seen < max_records:
            message = consumer.poll(idle_timeout_s)
            if message is None:
                if follow:
                    continue
                raise TimeoutError(f"reading {cluster_name}: no answer from the broker in {idle_timeout_s}s")
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    if not follow and at_end >= set(partitions):
                        return
                    continue
                raise RuntimeError(f"reading {cluster_name}: {message.error().str()}")
            at_end.discard(message.partition())
            for record in _records(message, name, model):
                if max_records is not None and seen >= max_records:
                    return
                seen += 1
                yield record
    finally:
        consumer.close()


def _records(message, name: str, model) -> list[TopicRecord]:
    """The records a Kafka record stands for: each item of a batch record (pipeline.wire.batch),
    with the batch's offset, or the record itself."""
    headers = message.headers()
    try:
        items = items_of(message.key(), message.value(), headers)
    except wire.WireError as exc:
        return [_record(message, name, None, message.key(), message.value(), header_dict(headers), str(exc))]
    if is_batch(headers):
        shown = {k: v for k, v in header_dict(headers).items() if k != BATCH_HEADER}
        return [_record(message, name, model, key, value, {**shown, ITEM_INDEX_HEADER: str(index)})
                for index, (key, value) in enumerate(items)]
    return [_record(message, name, model, message.key(), message.value(), header_dict(headers))]


def _record(message, name: str, model, key, value: Any, headers: dict, error: str | None = None) -> TopicRecord:
    if model is not None and value is not None and error is None:
        try:
            value = wire.decode(model, value)
        except wire.WireError as exc:
            error = str(exc)
    return TopicRecord(name, message.partition(), message.offset(), message.timestamp()[1],
                       key.decode("utf-8", "replace") if key is not None else None, headers, value, error)


def wait_for_records(settings: Settings, topic: str, predicate: Callable[[list[TopicRecord]], bool],
                     timeout: float = 60.0, alive: Callable[[], bool] = lambda: True,
                     describe: Callable[[], str] = lambda: "") -> list[TopicRecord]:
    """Re-read a topic from the start until ``predicate(records)`` holds; return those records.

    RuntimeError as soon as ``alive()`` turns false (a producing component died), TimeoutError
    after ``timeout`` seconds; both messages carry ``describe()`` (e.g. that component's log).
    """
    deadline = time.monotonic() + timeout
    records: list[TopicRecord] = []
    while time.monotonic() < deadline:
        records = list(read_topic(settings, topic))
        if predicate(records):
            return records
        if not alive():
            raise RuntimeError(f"a component died while waiting for {topic}:\n{describe()}")
        time.sleep(0.3)
    raise TimeoutError(f"{topic}: condition not met in {timeout}s; {len(records)} records:\n"
                       + "\n".join(str(r.as_json()) for r in records[-10:]) + "\n" + describe())
