"""The recorded traffic of a window, read back from Kafka: the timeline a what-if replay runs.

Alert records come from alerts.raw (what the sources wrote: the replay runs normalize too) or
alerts.normalized, from the window's start (clipped to the topic's retention, the rule of
pipeline.notification_history) to its end, by record timestamp. Silences come from the silences topic
(compacted, kept forever), every record up to the window's end with its timestamp: the replay applies a
silence from when it was written. Compaction keeps only the latest version of a silence, so a silence
edited or expired after the window began is replayed as its latest version, from that version's time
(before it, as absent). Reading goes through pipeline.runtime.window (the only Kafka code), bounded by
``whatif.max_records``/``max_silence_records`` and ``whatif.max_seconds``; the timeline says when a
bound stopped a read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline import wire
from pipeline.models import WireRecord
from pipeline.notification_history import MAX_PROBLEMS_KEPT, retained_start
from pipeline.settings import Settings
from pipeline.topology import Topology
from pipeline.wire.batch import ITEM_INDEX_HEADER
from pipeline.whatif.replay import NORMALIZED, RAW, Recorded, Timeline

INPUT_STAGES = {RAW: "normalize", NORMALIZED: "dedup"}  # the stage whose input a timeline is


@dataclass
class ReadReport:
    """What was read, for the report."""

    topic: str
    requested_start: datetime
    start: datetime
    end: datetime
    retention: timedelta | None
    alert_records: int = 0
    silence_records: int = 0
    unreadable: int = 0          # alert records whose value could not be decoded (normalize sees their bytes)
    capped: list[str] = field(default_factory=list)   # e.g. "alerts.raw: records"
    problems: list[str] = field(default_factory=list)

    @property
    def clipped_by_retention(self) -> bool:
        return self.start > self.requested_start


def input_topic(topology: Topology, kind: str) -> str:
    return next(iter(topology.stages[INPUT_STAGES[kind]].inputs.values()))


def read_timeline(settings: Settings, topology: Topology, kind: str, start: datetime,
                  end: datetime) -> tuple[Timeline, ReadReport]:
    """The timeline of ``[start, end]`` (``start`` includes any warm-up)."""
    from pipeline.runtime.window import WindowRead, read_window

    bounds = settings.whatif
    topic = input_topic(topology, kind)
    silences_topic = topology.stages["mute"].reads["silences"]
    clipped, retention = retained_start(topology, topic, start)
    report = ReadReport(topic, start, clipped, end, retention)
    end_ms = int(end.timestamp() * 1000)
    alerts: list[Recorded] = []
    progress = WindowRead(topic, int(clipped.timestamp() * 1000), bounds.max_records, bounds.max_seconds)
    for record in read_window(settings, topic, progress.since_ms, max_records=bounds.max_records,
                              max_seconds=bounds.max_seconds, progress=progress):
        if record.timestamp_ms > end_ms:
            continue
        value = record.value
        if record.error is not None:
            # normalize reads bytes itself (direct producers' camelCase JSON is not the wire format):
            # the replay hands it what was written, and it dead-letters what it cannot read, as live
            report.unreadable += 1
            if len(report.problems) < MAX_PROBLEMS_KEPT:
                report.problems.append(f"{record.topic}[{record.partition}]@{record.offset}: {record.error}")
        elif kind == RAW and isinstance(value, WireRecord):
            value = wire.encode(value)
        key = record.key.encode() if record.key is not None else None
        item = record.headers.get(ITEM_INDEX_HEADER, "0")
        alerts.append(Recorded(record.timestamp_ms, key, value,
                               (record.partition, record.offset, int(item) if item.isdigit() else 0)))
    if progress.capped:
        report.capped.append(f"{topic}: {progress.capped}")
    silences: list[Recorded] = []
    silence_progress = WindowRead(silences_topic, 0, bounds.max_silence_records, bounds.max_seconds)
    for record in read_window(settings, silences_topic, 0, max_records=bounds.max_silence_records,
                              max_seconds=bounds.max_seconds, progress=silence_progress):
        if record.timestamp_ms > end_ms or record.error is not None:
            continue
        value = wire.encode(record.value) if isinstance(record.value, WireRecord) else record.value
        key = record.key.encode() if record.key is not None else None
        silences.append(Recorded(record.timestamp_ms, key, value, (record.partition, record.offset, 0)))
    if silence_progress.capped:
        report.capped.append(f"{silences_topic}: {silence_progress.capped}")
    report.alert_records, report.silence_records = len(alerts), len(silences)
    return Timeline(kind, alerts, silences, clipped, end), report
