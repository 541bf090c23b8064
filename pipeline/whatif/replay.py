"""One replay: a recorded timeline through the real processors on the in-memory runtime, on simulated time.

The processors are the stages' own (pipeline.stages): normalize (skipped when the timeline is of
alerts.normalized), dedup, classify with the rules only (no model, no enrichment workflows: a replay
calls nothing outside), mute, route and group, built from one :class:`Setup` (an Alertmanager
configuration and a classification file) and run by :class:`pipeline.runtime.memory.MemoryRuntime`,
which chains and encodes them as the Kafka runtime does. Nothing is delivered: the sink is not run; a
notification counts when the group stage emits it, as on the live pipeline (its record on the
notifications topic is what was decided).

Simulated time, so that group_wait, group_interval, repeat_interval, resolve_timeout expiry and time
intervals behave as live:

- events are taken in record-timestamp order (ties: silences before alerts, then partition and offset);
  the clock is the event's timestamp, and it is the ``now`` every processor sees;
- a silence record applies from its timestamp (handed to the views as the runtime hands a followed
  topic); a tombstone removes it then;
- before an event at ``t`` the timers run: a tick at each time a table's due index names (a group's
  next flush, an alert's expiry) that is ``<= t``, at most one per ``group.tick_s`` (a live worker ticks
  that often, so a flush due between two ticks goes at the next one), and at least every
  :data:`HEARTBEAT` (the views' garbage collection, the notification log's maintenance);
- after an alert record the group stage's "flush now" (group_wait 0, an old alert) ticks at once, as
  the live runtime does after ``process``;
- after the last event the timers run up to the window's end.

Memory: the runtime keeps only the notifications and dead letters written by one step, taken out
after it; tables hold what the live stages would (alerts, groups, the notification log).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.amconfig import AlertmanagerConfig
from pipeline.classification.config import ClassificationFile
from pipeline.models import Notification
from pipeline.muting.inhibition import InhibitRule
from pipeline.muting.view import Muting, MutingView
from pipeline.notification_history import notification_topic
from pipeline.runtime.memory import MemoryRuntime
from pipeline.topology import Topology

HEARTBEAT = timedelta(seconds=60)
RAW = "raw"                 # timelines of the normalize stage's input
NORMALIZED = "normalized"   # timelines of the dedup stage's input
MAX_SILENCE_IDS_KEPT = 5    # per muted alert, for the examples
# Tables whose due index a stage serves by periodic maintenance, not at the due time: the group stage
# deletes expired notification-log entries every MAINTENANCE_INTERVAL (the heartbeat ticks cover it);
# ticking at their due times would tick every group.tick_s until the next maintenance, to no effect.
MAINTAINED_TABLES = frozenset({"nflog"})


@dataclass(frozen=True, slots=True)
class Recorded:
    """One record of the recorded traffic as it was on its topic."""

    at_ms: int                 # the Kafka record's timestamp
    key: bytes | None
    value: Any                 # bytes (raw alerts, silences; None: a tombstone) or an AlertEvent
    order: tuple[int, int, int] = (0, 0, 0)  # partition, offset, batch item: ties at one instant

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, timezone.utc)


@dataclass
class Timeline:
    """What a replay runs: alert records of one input (``RAW`` or ``NORMALIZED``) and silence records,
    each sorted by time; ``start``/``end`` bound the simulated clock."""

    input: str
    alerts: list[Recorded]
    silences: list[Recorded]
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.input not in (RAW, NORMALIZED):
            raise ValueError(f"a timeline's input is {RAW!r} or {NORMALIZED!r}, not {self.input!r}")
        self.alerts.sort(key=lambda r: (r.at_ms, r.order))
        self.silences.sort(key=lambda r: (r.at_ms, r.order))


@dataclass(frozen=True)
class Setup:
    """What one replay runs under."""

    name: str                       # "current" or "candidate", for the report
    config: AlertmanagerConfig
    rules: ClassificationFile
    source: str = ""                # the configuration's file


@dataclass(frozen=True, slots=True)
class Sent:
    """One notification as the diff sees it: one flush of a group to a receiver (its integrations,
    which the group stage emits one record each, folded into one when they carry the same alerts)."""

    receiver: str
    group_key: str
    status: str
    alerts: frozenset[tuple[str, str]]        # (fingerprint, status) of every alert in it
    at: datetime                              # when the group stage emitted it (simulated)
    integrations: tuple[str, ...]
    group_labels: tuple[tuple[str, str], ...]
    # (fingerprint, startsAt, priority, alertname) of its firing alerts: the pages it carries
    firing: tuple[tuple[str, datetime, str, str], ...]

    @property
    def content(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return self.status, self.alerts


@dataclass
class MutedAlert:
    labels: dict[str, str]
    first_at: datetime
    last_at: datetime
    silences: list[str] = field(default_factory=list)   # a few silence ids
    inhibited: bool = False
    silenced: bool = False


class MutedLog:
    """Every alert a replay's views found silenced or inhibited (at the mute stage, or at a flush),
    keyed by its label set (labels as classified: the fingerprint of a notification's alert is of the
    labels before classification, the views see them after)."""

    def __init__(self) -> None:
        self.alerts: dict[tuple[tuple[str, str], ...], MutedAlert] = {}

    def note(self, labels: Mapping[str, str], muting: Muting, now: datetime) -> None:
        key = tuple(sorted(labels.items()))
        entry = self.alerts.get(key)
        if entry is None:
            entry = self.alerts[key] = MutedAlert(dict(labels), now, now)
        entry.last_at = now
        if muting.silenced_by:
            entry.silenced = True
            for sid in muting.silenced_by:
                if sid not in entry.silences and len(entry.silences) < MAX_SILENCE_IDS_KEPT:
                    entry.silences.append(sid)
        if muting.inhibited_by:
            entry.inhibited = True


class RecordingView(MutingView):
    """The stages' muting view, noting every muted answer in a :class:`MutedLog`."""

    def __init__(self, inhibit_rules: Iterable[InhibitRule], log: MutedLog):
        super().__init__(inhibit_rules)
        self.log = log

    @classmethod
    def of(cls, config: AlertmanagerConfig, log: MutedLog) -> RecordingView:
        return cls((InhibitRule(r.source_matchers, r.target_matchers, tuple(r.equal)) for r in config.inhibit_rules),
                   log)

    def muting(self, labels: Mapping[str, str], now: datetime) -> Muting:
        muting = super().muting(labels, now)
        if muting.muted:
            self.log.note(labels, muting, now)
        return muting


@dataclass
class ReplayOutcome:
    setup: Setup
    sent: list[Sent]
    muted: MutedLog
    alert_records: int = 0
    silence_records: int = 0
    dead_letters: int = 0          # records a stage refused (the same for both replays unless relabeling differs)
    ticks: int = 0
    capped: bool = False           # stopped at max_notifications
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class ReplayOptions:
    tick: timedelta = timedelta(milliseconds=50)   # settings.group.tick_s
    max_flushes_per_tick: int = 2000
    max_record_bytes: int = 262144
    external_url: str = ""
    max_notifications: int = 1_000_000
    max_notification_bytes: int = 8 * 1024 * 1024  # settings.group.max_notification_bytes


def build_processors(setup: Setup, topology: Topology, timeline_input: str, options: ReplayOptions,
                     log: MutedLog) -> dict:
    """The stages' processors under ``setup``, as their ``from_settings`` builds them, minus what calls
    out (the model, enrichment workflows) and with views that note what they mute."""
    from pipeline.settings import HistorySettings
    from pipeline.stages.classify import AlertClassifier, ClassifyProcessor
    from pipeline.stages.dedup import DedupProcessor
    from pipeline.stages.flapping import FlappingProcessor, FlappingSet
    from pipeline.stages.group import GroupProcessor
    from pipeline.stages.mute import MuteProcessor
    from pipeline.stages.normalize import NormalizeProcessor
    from pipeline.stages.route import RouteProcessor

    config = setup.config
    # No first-flush wait for the event-time watermark: in memory every record before a flush was
    # handled by every stage before it (the watermark the live group stage waits for has passed).
    group = GroupProcessor(config, external_url=options.external_url, tick_s=options.tick.total_seconds(),
                           max_flushes_per_tick=options.max_flushes_per_tick,
                           max_notification_bytes=options.max_notification_bytes)
    group.view = RecordingView.of(config, log)
    group.READS = group.view.ports
    processors = [
        DedupProcessor(),
        ClassifyProcessor(AlertClassifier(setup.rules)),
        # Flapping marks come from the history database: a replay runs without them (the stage passes
        # every alert on unchanged, as with history off).
        FlappingProcessor(HistorySettings(), FlappingSet(HistorySettings())),
        MuteProcessor(RecordingView.of(config, log)),
        RouteProcessor(config.routing_tree()),
        group,
    ]
    if timeline_input == RAW:
        processors.insert(0, NormalizeProcessor(resolve_timeout=config.global_config.resolve_timeout,
                                                max_bytes=options.max_record_bytes,
                                                relabel_rules=setup.rules.relabel))
    return {p.STAGE: p for p in processors}


def replay(timeline: Timeline, setup: Setup, topology: Topology, options: ReplayOptions = ReplayOptions()
           ) -> ReplayOutcome:
    """Run ``timeline`` under ``setup``; what the group stage notified, and what was muted."""
    return _Replay(timeline, setup, topology, options).run()


class _Replay:
    def __init__(self, timeline: Timeline, setup: Setup, topology: Topology, options: ReplayOptions):
        self.timeline = timeline
        self.options = options
        self.topology = topology
        self.notifications = notification_topic(topology)
        first = "normalize" if timeline.input == RAW else "dedup"
        self.input_topic = next(iter(topology.stages[first].inputs.values()))
        self.silences_topic = topology.stages["mute"].reads["silences"]
        self.dead_letter_topics = {s.dead_letters for s in topology.stages.values() if s.dead_letters}
        self.outcome = ReplayOutcome(setup, [], MutedLog())
        processors = build_processors(setup, topology, timeline.input, options, self.outcome.muted)
        self.rt = MemoryRuntime(topology, processors, keep={self.notifications, *self.dead_letter_topics})
        self.due_tables = [t for e in self.rt.executors for t in e.tables()
                           if t.spec.due is not None and t.name not in MAINTAINED_TABLES]
        self.clock = timeline.start
        self.last_tick: datetime | None = None
        self.priority_label = setup.rules.classification.labels.priority

    def run(self) -> ReplayOutcome:
        try:
            for kind, record in self._events():
                at = max(record.at, self.clock)   # a clock never goes back (producers' clocks may)
                self._timers(until=at)
                if self.outcome.capped:
                    break
                self.clock = at
                if kind == 0:
                    self.rt.follow(self.silences_topic, record.key, record.value)
                    self.outcome.silence_records += 1
                    continue
                self.rt.send(self.input_topic, record.key, record.value, at, timestamp=record.at_ms / 1000)
                self.outcome.alert_records += 1
                if [i for e in self.rt.executors for i in e.wants_tick(at)]:  # asks every one: it resets
                    self._tick(at)
                else:
                    self._collect(at)
            if not self.outcome.capped:
                self._timers(until=self.timeline.end)
        finally:
            self.rt.close()
        self.outcome.stopped_at = self.clock
        return self.outcome

    def _events(self):
        # silences (kind 0) before alerts (kind 1) at one instant: a silence written then applies
        return heapq.merge(((0, r) for r in self.timeline.silences), ((1, r) for r in self.timeline.alerts),
                           key=lambda e: (e[1].at_ms, e[0], e[1].order))

    def _next_due(self) -> datetime | None:
        best = None
        for table in self.due_tables:
            due = table.next_due()
            if due is not None and (best is None or due < best):
                best = due
        return best

    def _timers(self, until: datetime) -> None:
        while not self.outcome.capped:
            last = self.last_tick or self.timeline.start
            due = self._next_due()
            at = last + HEARTBEAT if due is None else min(due, last + HEARTBEAT)
            if self.last_tick is not None:
                at = max(at, self.last_tick + self.options.tick)
            at = max(at, self.clock)
            if at > until:
                return
            self.clock = at
            self._tick(at)

    def _tick(self, at: datetime) -> None:
        self.rt.tick(at)
        self.last_tick = at
        self.outcome.ticks += 1
        self._collect(at)

    def _collect(self, at: datetime) -> None:
        for topic in self.dead_letter_topics:
            self.outcome.dead_letters += len(self.rt.take(topic))
        written = self.rt.take(self.notifications)
        if not written:
            return
        folded: dict[tuple, list[str]] = {}
        first: dict[tuple, Notification] = {}
        for w in written:
            n: Notification = w.value
            key = (n.receiver, n.group_key, n.status, frozenset((a.fingerprint, a.status) for a in n.alerts),
                   n.created_at)
            folded.setdefault(key, []).append(n.integration)
            first.setdefault(key, n)
        for key, integrations in folded.items():
            n = first[key]
            self.outcome.sent.append(Sent(
                receiver=n.receiver, group_key=n.group_key, status=n.status, alerts=key[3], at=n.created_at,
                integrations=tuple(sorted(integrations)), group_labels=tuple(sorted(n.group_labels.items())),
                firing=tuple((a.fingerprint, a.starts_at, self._priority(a.labels), a.labels.get("alertname", ""))
                             for a in n.alerts if a.status == "firing")))
        if len(self.outcome.sent) >= self.options.max_notifications:
            self.outcome.capped = True

    def _priority(self, labels: Mapping[str, str]) -> str:
        return labels.get(self.priority_label, "") if self.priority_label else ""
