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
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from pipeline.runtime.admin import RDKAFKA_LOGGER
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowedRecord:
    topic: str       # the declared name (without the prefix)
    key: bytes | None
    value: bytes | None  # None: a tombstone


class TopicFollower:
    """Reads ``topics`` whole, forever, in a thread. By default records are queued for ``drain()``;
    with ``apply`` they are handed to it in the follower thread (the owner then guards its state)."""

    def __init__(self, settings: Settings, topics: list[str], name: str, max_queue: int = 1_000_000,
                 apply: Callable[[str, bytes | None, bytes | None], None] | None = None,
                 on_caught_up: Callable[[], None] | None = None, poll_timeout_s: float = 0.2):
        self.settings = settings
        self.topics = list(topics)
        self.name = name
        self._cluster_names = {settings.topic(t): t for t in self.topics}
        self._queue: collections.deque[FollowedRecord] = collections.deque()
        self._max_queue = max_queue
        self._apply = apply
        self._on_caught_up = on_caught_up
        self._poll_timeout_s = poll_timeout_s
        self._room = threading.Condition()
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # the last problem while (re)connecting, for readiness reports

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
            # A reader, never a member of a stage's group: nothing is committed (librdkafka wants an id).
            "group.id": f"{self.settings.topics.prefix}follower-{self.name}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,  # reaching the end must not depend on a record to read
            "auto.offset.reset": "earliest",
            "logger": RDKAFKA_LOGGER,
        })

    def _run(self) -> None:
        # A broker restart or a missing topic is not the end: reconnect and read from the beginning
        # again (applying a record twice is harmless: every view keeps the latest value per key).
        while not self._stop.is_set():
            consumer = None
            try:
                consumer = self._consumer()
                ends = self._assign(consumer)
                self.error = None
                self._follow(consumer, ends)
            except Exception as exc:  # noqa: BLE001 - reported through ``error``; we retry
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("follower %s: %s; retrying", self.name, self.error)
                self._stop.wait(1.0)
            finally:
                if consumer is not None:
                    consumer.close()

    def _assign(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        """Every partition from the beginning; returns the end offsets now (reading up to them means
        the view holds everything written before the follower started)."""
        timeout = self.settings.kafka.request_timeout_s
        partitions: list[TopicPartition] = []
        for cluster_name in self._cluster_names:
            topic = consumer.list_topics(cluster_name, timeout=timeout).topics.get(cluster_name)
            if topic is None or topic.error is not None or not topic.partitions:
                raise RuntimeError(f"topic {cluster_name} not found; run `pipeline topology apply`")
            partitions += [TopicPartition(cluster_name, p, OFFSET_BEGINNING) for p in topic.partitions]
        ends: dict[tuple[str, int], int] = {}
        for tp in partitions:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            if high > low:
                ends[(tp.topic, tp.partition)] = high
        consumer.assign(partitions)
        return ends

    def _follow(self, consumer: Consumer, ends: dict[tuple[str, int], int]) -> None:
        pending = dict(ends)
        if not pending:
            self._reached_the_end()
        while not self._stop.is_set():
            self._wait_for_room()
            for message in consumer.consume(num_messages=1000, timeout=self._poll_timeout_s):
                error = message.error()
                place = (message.topic(), message.partition())
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        if place in pending and message.offset() >= pending[place]:
                            del pending[place]
                    elif error.fatal() or error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART,
                                                           KafkaError._UNKNOWN_TOPIC):
                        raise KafkaException(error)
                    else:
                        log.debug("follower %s: %s", self.name, error.str())
                    continue
                topic = self._cluster_names[message.topic()]
                if self._apply is not None:
                    self._apply(topic, message.key(), message.value())
                else:
                    self._queue.append(FollowedRecord(topic, message.key(), message.value()))
                if place in pending and message.offset() + 1 >= pending[place]:
                    del pending[place]
            if not pending and not self.caught_up.is_set():
                self._reached_the_end()

    def _reached_the_end(self) -> None:
        self.caught_up.set()
        if self._on_caught_up is not None:
            self._on_caught_up()

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
        if not warned and time.monotonic() - started > 30:
            log.warning("%s: still reading %s to the end (%s)", what, ", ".join(follower.topics),
                        follower.error or "no error")
            warned = True
        await asyncio.sleep(poll_s)
