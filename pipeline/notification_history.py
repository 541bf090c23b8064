"""The notifications the pipeline sent in a past window, read back from Kafka.

The grouping stage writes one :class:`~pipeline.models.Notification` per flush of a group to a receiver
integration on its output topic, kept for that topic's retention (7 days by default). That record is
what was decided, before delivery: retries and the dead-letter queue carry copies of the same ids, so
they are not read here. A crashed flush replayed with the same id is counted once.

Used by ``pipeline silence preview`` (which notifications a silence would have muted) and meant for the
what-if replay (issue #14), which compares decisions over the same recorded window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pipeline.models import Notification
from pipeline.settings import Settings
from pipeline.topology import Topology, TopologyError, load_topology

NOTIFICATION_SCHEMA = "Notification"


def notification_topic(topology: Topology) -> str:
    """The topic notifications are first written to: of schema Notification, written by a stage that
    reads no Notification topic (the grouping stage; the sink's retry and dead-letter topics are
    written by a stage that reads notifications)."""
    def carries_notifications(topic: str) -> bool:
        return topology.topics[topic].schema_name == NOTIFICATION_SCHEMA

    found = [
        topic
        for stage in topology.stages.values()
        if not any(carries_notifications(t) for t in (*stage.inputs.values(), *stage.reads.values()))
        for topic in stage.outputs.values()
        if carries_notifications(topic)
    ]
    if len(found) != 1:
        raise TopologyError(f"{topology.source}: expected one topic of schema {NOTIFICATION_SCHEMA} written by a "
                            f"stage that reads none, found {found or 'none'}")
    return found[0]


def retained_start(topology: Topology, topic: str, start: datetime,
                   now: datetime | None = None) -> tuple[datetime, timedelta | None]:
    """``start`` moved up to the oldest time ``topic`` still keeps (its declared retention, counted back
    from ``now``), and that retention (None: kept forever). The one clipping rule of every reader of a
    past window (this module, the what-if replay in pipeline.whatif)."""
    retention_ms = topology.topics[topic].retention_ms
    retention = None if retention_ms < 0 else timedelta(milliseconds=retention_ms)
    now = now or datetime.now(timezone.utc)
    return (max(start, now - retention) if retention is not None else start), retention


@dataclass
class HistoryWindow:
    """What was read: the window asked for, where it really starts, and whether a bound stopped it."""

    topic: str
    start: datetime  # the window asked for (after clipping to the topic's retention)
    end: datetime
    requested_start: datetime
    retention: timedelta | None  # None: kept forever
    records: int = 0  # records read from the topic (duplicates and unreadable ones included)
    notifications: int = 0  # distinct notifications inside the window
    duplicates: int = 0
    unreadable: int = 0
    capped: str | None = None  # "records" or "time"
    problems: list[str] = field(default_factory=list)  # a few unreadable records, for the answer

    @property
    def clipped_by_retention(self) -> bool:
        return self.start > self.requested_start

    def to_json(self) -> dict:
        out = {
            "topic": self.topic,
            "from": self.start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "to": self.end.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "recordsScanned": self.records,
            "notifications": self.notifications,
            "capped": self.capped is not None,
        }
        if self.capped:
            out["cappedBy"] = self.capped
        if self.clipped_by_retention:
            out["clippedByRetention"] = True
        if self.duplicates:
            out["duplicates"] = self.duplicates
        if self.unreadable:
            out["unreadable"] = self.unreadable
            out["problems"] = self.problems
        return out


MAX_PROBLEMS_KEPT = 5


class NotificationHistory:
    """Iterate the distinct notifications created in ``[start, end]``; ``window`` fills in meanwhile.

    ``max_records`` bounds the records read (and so the ids remembered for de-duplication),
    ``max_seconds`` the time spent reading.
    """

    def __init__(self, settings: Settings, start: datetime, end: datetime, *, max_records: int,
                 max_seconds: float, topology: Topology | None = None) -> None:
        topology = topology or load_topology(settings.topics.topology_file)
        self.settings = settings
        self.topic = notification_topic(topology)
        clipped, retention = retained_start(topology, self.topic, start)
        self.window = HistoryWindow(self.topic, clipped, end, start, retention)
        self.max_records = max_records
        self.max_seconds = max_seconds

    def __iter__(self) -> Iterator[Notification]:
        from pipeline.runtime.window import WindowRead, read_window

        window = self.window
        # Kafka timestamps are the producer's time, a little after created_at: seek a minute early.
        since_ms = int((window.start - timedelta(minutes=1)).timestamp() * 1000)
        progress = WindowRead(self.topic, since_ms, self.max_records, self.max_seconds)
        seen: set[str] = set()
        try:
            for record in read_window(self.settings, self.topic, since_ms, max_records=self.max_records,
                                      max_seconds=self.max_seconds, progress=progress):
                window.records += 1
                notification = record.value
                if record.error is not None or not isinstance(notification, Notification):
                    window.unreadable += 1
                    if len(window.problems) < MAX_PROBLEMS_KEPT:
                        window.problems.append(f"{record.topic}[{record.partition}]@{record.offset}: "
                                               f"{record.error or 'not a notification'}")
                    continue
                if not window.start <= notification.created_at <= window.end:
                    continue
                if notification.id in seen:
                    window.duplicates += 1
                    continue
                seen.add(notification.id)
                window.notifications += 1
                yield notification
        finally:
            window.capped = progress.capped
