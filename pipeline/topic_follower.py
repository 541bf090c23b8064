"""Follow whole topics (every partition, from the beginning) in a background thread.

Stages that need a global view — every silence, every alert that may inhibit another — cannot get it
from their consumer group, which hands each worker only its share of partitions. A follower reads
all partitions of its topics with no group membership and no commits, so every worker (and every
replica of the API) sees everything. Compacted topics (silences, alerts.state) keep that cheap.

The thread only queues records; the owner applies them on its own thread with ``drain()``, so the
state it builds needs no locks. ``caught_up`` is set once the follower has read up to the end
offsets it saw at start: before that, a stage must not decide anything from the view (a restarted
worker would otherwise notify an alert whose silence it has not read yet).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pipeline.kafka_clients import RDKAFKA_LOGGER
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowedRecord:
    topic: str       # the declared name (without the prefix)
    key: bytes | None
    value: bytes | None  # None: a tombstone


class TopicFollower:
    def __init__(self, settings: Settings, topics: list[str], name: str, max_queue: int = 1_000_000):
        self.settings = settings
        self.topics = list(topics)
        self.name = name
        self._cluster_names = {settings.topic(t): t for t in self.topics}
        self._queue: collections.deque[FollowedRecord] = collections.deque()
        self._max_queue = max_queue
        self._room = threading.Condition()
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> TopicFollower:
        self._thread = threading.Thread(target=self._run, name=f"follower-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._room:
            self._room.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self, limit: int | None = None) -> list[FollowedRecord]:
        """The records read since the last call, oldest first (at most ``limit``)."""
        out = []
        while self._queue and (limit is None or len(out) < limit):
            out.append(self._queue.popleft())
        if out:
            with self._room:
                self._room.notify_all()
        return out

    def wait_caught_up(self, timeout: float) -> bool:
        return self.caught_up.wait(timeout)

    # -- the thread ----------------------------------------------------------------------------

    def _consumer(self) -> Consumer:
        return Consumer({
            **self.settings.kafka.client_config(),
            # A reader, never a member of a stage's group: nothing is committed.
            "group.id": f"pipeline-follower-{self.name}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "logger": RDKAFKA_LOGGER,
        })

    def _run(self) -> None:
        try:
            self._follow()
        except BaseException as exc:  # noqa: BLE001 - reported to the owner, who decides
            self.error = exc
            log.exception("follower %s stopped", self.name)

    def _follow(self) -> None:
        consumer = self._consumer()
        try:
            metadata = consumer.list_topics(timeout=self.settings.kafka.request_timeout_s)
            partitions = []
            for cluster_name in self._cluster_names:
                topic = metadata.topics.get(cluster_name)
                if topic is None or topic.error is not None:
                    raise RuntimeError(f"topic {cluster_name} not found; run `pipeline topology apply`")
                partitions += [TopicPartition(cluster_name, p, OFFSET_BEGINNING) for p in topic.partitions]
            # The end offsets now: reading up to them means the view holds everything written before.
            remaining: dict[tuple[str, int], int] = {}
            for tp in partitions:
                low, high = consumer.get_watermark_offsets(tp, timeout=self.settings.kafka.request_timeout_s)
                if high > low:
                    remaining[(tp.topic, tp.partition)] = high
            consumer.assign(partitions)
            if not remaining:
                self.caught_up.set()
            while not self._stop.is_set():
                self._wait_for_room()
                message = consumer.poll(0.2)
                if message is None:
                    self._check_positions(consumer, remaining)
                    continue
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("follower %s: %s", self.name, message.error())
                    continue
                self._queue.append(FollowedRecord(self._cluster_names[message.topic()], message.key(),
                                                  message.value()))
                end = remaining.get((message.topic(), message.partition()))
                if end is not None and message.offset() + 1 >= end:
                    del remaining[(message.topic(), message.partition())]
                    if not remaining:
                        self.caught_up.set()
        finally:
            consumer.close()

    def _check_positions(self, consumer: Consumer, remaining: dict[tuple[str, int], int]) -> None:
        # Compaction or transaction markers can leave the last offsets without a record to read.
        if not remaining or self.caught_up.is_set():
            return
        positions = consumer.position([TopicPartition(t, p) for t, p in remaining])
        for tp in positions:
            if tp.offset >= 0 and tp.offset >= remaining[(tp.topic, tp.partition)]:
                del remaining[(tp.topic, tp.partition)]
        if not remaining:
            self.caught_up.set()

    def _wait_for_room(self) -> None:
        # Back-pressure: a stalled owner must not make the follower buffer a whole topic in memory.
        with self._room:
            while len(self._queue) >= self._max_queue and not self._stop.is_set():
                self._room.wait(0.5)


async def wait_until_caught_up(follower: TopicFollower, what: str, poll_s: float = 0.05) -> None:
    """Await (without blocking the loop) until ``follower`` has read its topics to the end."""
    import asyncio

    started = time.monotonic()
    warned = False
    while not follower.caught_up.is_set():
        if follower.error is not None:
            raise RuntimeError(f"{what}: follower failed: {follower.error}") from follower.error
        if not warned and time.monotonic() - started > 30:
            log.warning("%s: still reading %s to the end", what, ", ".join(follower.topics))
            warned = True
        await asyncio.sleep(poll_s)
