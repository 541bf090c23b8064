"""group: routed alerts → notifications, through aggregation groups and the notification log.

The semantics are pipeline.grouping (Alertmanager's dispatcher, aggregation groups, nflog and the
webhook payload); this processor keeps them in its tables (layout: pipeline.grouping.rows):

- ``process`` inserts each routed alert into its group: one alert row, and the group's header when
  the group is new or its next flush moved (an alert older than group_wait flushes at once);
- ``tick`` (every ``group.tick_s``, and at once when an insert made a flush due) flushes the groups
  whose header is due, mutes at flush time with the silences and inhibition sources it follows
  (the runtime feeds them and starts no tick before both were read to their end: a restarted worker
  must know every silence before it decides a notification is not muted), and emits one
  notification per (group, integration);
- the runtime writes the notifications and only then logs the state that says they were sent: a
  crash in between replays the flush with the same flush sequence, hence the same notification ids,
  which the sink's delivery ledger drops; a crash before the write loses nothing.

A restarted or rebalanced worker needs no reload: the due index of the headers says what is pending.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import msgspec

from pipeline.dead_letters import Rejected
from pipeline.dedup.codec import datetime_from_state
from pipeline.grouping.aggregation import AggregationGroup, GroupTiming
from pipeline.grouping.nflog import DEFAULT_RETENTION, MAINTENANCE_INTERVAL, NflogEntry
from pipeline.grouping.notification import Integration, decide_flushes
from pipeline.grouping.rows import (
    GroupHeader,
    NflogRow,
    RowAlerts,
    group_key_of,
    header_due,
    header_key,
    nflog_due,
    nflog_entries,
    nflog_row,
)
from pipeline.models import Alert, EnrichedAlert
from pipeline.muting.view import GC_INTERVAL, MutingView
from pipeline.routing import Route
from pipeline.stages.processor import Emit, Processor, Record, Table

log = logging.getLogger(__name__)

# Alertmanager's dispatcher drops empty groups in its maintenance run, every 30 s; until then a
# new alert joins the existing group and is sent at its next group_interval tick, not after group_wait.
EMPTY_GROUP_GRACE = timedelta(seconds=30)
EMPTY_SINCE = "empty_since"  # header field: when the group was first seen empty at a flush


def integrations_of(config) -> dict[str, list[Integration]]:
    """Each receiver's notifiers as the notification log knows them (kind, index, send_resolved)."""
    out: dict[str, list[Integration]] = {}
    for receiver in config.receivers:
        out[receiver.name] = [
            Integration(receiver=receiver.name, send_resolved=i.send_resolved,
                        max_alerts=int(i.config.get("max_alerts") or 0), name=i.kind, index=i.index)
            for i in receiver.integrations
        ]
    return out


class GroupProcessor(Processor):
    STAGE = "group"
    WANTS_EVENT_TIME = True
    OUTPUTS = ("notifications",)
    READS = ("silences", "alert_states")
    TABLES = (
        Table("group_headers", GroupHeader, due=header_due, partition_key=group_key_of),
        Table("group_alerts", Alert, partition_key=group_key_of),
        Table("nflog", NflogRow, due=nflog_due, partition_key=group_key_of),
    )

    def __init__(self, config, *, external_url: str = "", tick_s: float = 0.05, max_flushes_per_tick: int = 1000,
                 retention: timedelta = DEFAULT_RETENTION, first_flush_max_wait: timedelta = timedelta(0),
                 max_notification_bytes: int = 8 * 1024 * 1024):
        self.routes: dict[str, Route] = {route.id(): route for route in config.routing_tree().walk()}
        self.integrations = integrations_of(config)
        self.time_intervals = config.time_intervals
        self.external_url = external_url
        self.retention = retention
        self.first_flush_max_wait = first_flush_max_wait
        self.max_notification_bytes = max_notification_bytes
        self.max_flushes = max_flushes_per_tick
        self.TICK_INTERVAL_S = tick_s
        self.view = MutingView.from_config(config)
        self.READS = self.view.ports
        self._flush_now = False
        self._maintained: datetime | None = None
        self._view_collected: datetime | None = None

    @classmethod
    def from_settings(cls, settings, topology) -> GroupProcessor:
        from pipeline.alertmanager_config import load_alertmanager_config

        return cls(load_alertmanager_config(settings.alertmanager_config), external_url=settings.group.external_url,
                   tick_s=settings.group.tick_s, max_flushes_per_tick=settings.group.max_flushes_per_tick,
                   first_flush_max_wait=timedelta(seconds=settings.group.first_flush_max_wait_s),
                   max_notification_bytes=settings.group.max_notification_bytes)

    def follow(self, port: str, key: bytes | None, value: bytes | None) -> None:
        self.view.apply(port, key, value)

    # -- alerts in ---------------------------------------------------------------------------------------
    def process(self, record: Record, state, now: datetime):
        event: EnrichedAlert = record.value
        if len(event.routes) != 1:
            return Rejected("RoutingError", f"a routed record carries one route, this one {len(event.routes)}")
        match = event.routes[0]
        route = self.routes.get(match.route_key)
        if route is None:
            return Rejected("UnknownRoute", f"route {match.route_key!r} is not in the loaded configuration")
        headers = state["group_headers"]
        key = header_key(match.group_key, match.route_key)
        rows = RowAlerts(state["group_alerts"], key)
        header = headers.get(key)
        if header is None:
            # A new group's timers start when the alert entered the pipeline (received_at, set by the
            # bridge or normalize), not when it reached this stage: Alertmanager starts them on
            # receipt, and the stages in between must not shift group_wait and the group_interval
            # ticks by their latency. A record read late is flushed as soon as its group_wait is over.
            timing = GroupTiming(route.opts.group_wait, route.opts.group_interval, route.opts.repeat_interval)
            started = min(now, event.received_at) if event.received_at is not None else now
            group = AggregationGroup.new(match.group_key, match.route_key, match.group_labels, timing, started,
                                         alerts=rows)
        else:
            group = AggregationGroup.from_header(header, rows)
        before = group.next_flush_at
        group.insert(event.alert, now)
        if header is None or group.next_flush_at != before or EMPTY_SINCE in header:
            headers.set(key, GroupHeader(group.header_state()))
        if group.next_flush_at <= now:
            self._flush_now = True  # group_wait 0 or an old alert: the tick goes now
        return ()

    def wants_tick(self, now: datetime) -> bool:
        wanted, self._flush_now = self._flush_now, False
        return wanted

    # -- the tick -------------------------------------------------------------------------------------------
    def tick(self, state, now: datetime):
        headers, alerts, nflog = state["group_headers"], state["group_alerts"], state["nflog"]
        emits: list[Emit] = []
        for key in headers.pop_due(now, self.max_flushes):
            header = headers.get(key)
            if header is None:
                continue
            if self._awaits_watermark(key, header, headers, now):
                headers.set(key, header)  # indexed again: the next tick (or watermark) checks it
                continue
            self._flush(key, header, headers, alerts, nflog, now, emits)
        if self._maintained is None:
            self._maintained = now
        elif now - self._maintained >= MAINTENANCE_INTERVAL:
            # Alertmanager's nflog maintenance: delete the entries expired by now (reads use an
            # expired entry until then, see pipeline.grouping.nflog).
            for key in nflog.pop_due(now, 1_000_000):
                nflog.delete(key)
            self._maintained = now
        if self._view_collected is None or now - self._view_collected >= GC_INTERVAL:
            self.view.gc(now)
            self._view_collected = now
        return emits

    def _awaits_watermark(self, key: bytes, header: dict, headers, now: datetime) -> bool:
        """A group's first flush waits until every alert received up to the group's creation has
        passed the stages before (the alerts of one POST reach this stage by different partitions:
        Alertmanager puts them in one notification), at most first_flush_max_wait past its due."""
        if self.watermark_ms is None or header.get("has_flushed") or not self.first_flush_max_wait:
            return False
        if now >= datetime_from_state(header["next_flush_at"]) + self.first_flush_max_wait:
            return False
        watermark = self.watermark_ms(headers.partition_for(key))
        created = datetime_from_state(header["created_at"])
        return watermark is None or watermark < math.ceil(created.timestamp() * 1000)

    def _flush(self, key: bytes, header: dict, headers, alerts, nflog, now: datetime, emits: list[Emit]) -> None:
        group = AggregationGroup.from_header(header, RowAlerts(alerts, key))
        if not group.due(now):
            headers.set(key, header)  # indexed again at its own time
            return
        snapshot = group.flush(now)
        if snapshot is None:
            since = header.get(EMPTY_SINCE) or now.isoformat()
            if now - datetime.fromisoformat(since) >= EMPTY_GROUP_GRACE:
                headers.delete(key)
                return
            headers.set(key, GroupHeader(group.header_state(), **{EMPTY_SINCE: since}))
            return
        route = self.routes.get(group.route_key)
        if route is None or self._time_muted(route, now):
            visible = snapshot.only(lambda _alert: False)
        else:
            visible = snapshot.only(lambda alert: not self.view.muting(alert.labels, now).muted)
        if visible.alerts and route is not None:
            entries = nflog_entries(nflog, group.group_key)
            decisions = decide_flushes(visible, entries, self.integrations.get(route.receiver, []), now,
                                       external_url=self.external_url, retention=self.retention,
                                       max_bytes=self.max_notification_bytes, size_of=_encoded_size)
            for decision in decisions:
                if decision.notify and decision.nflog_entry is not None:
                    nflog.set(nflog_row(group.group_key, decision.integration.key), _row(decision.nflog_entry))
                if decision.notification is not None:
                    notification = decision.notification
                    emits.append(Emit("notifications", notification.id.encode(), notification))
        # Handed to Kafka counts as notified: delivery and its retries are the sinks' job.
        group.notified(snapshot, success=True, now=now)
        state = group.header_state()
        if group.empty():
            state[EMPTY_SINCE] = now.isoformat()
        headers.set(key, GroupHeader(state))

    def _time_muted(self, route: Route, now: datetime) -> bool:
        # Alertmanager's TimeMuteStage and TimeActiveStage: the whole notification or nothing.
        if any(self._interval(name).contains(now) for name in route.opts.mute_time_intervals):
            return True
        active = route.opts.active_time_intervals
        return bool(active) and not any(self._interval(name).contains(now) for name in active)

    def _interval(self, name: str):
        interval = self.time_intervals.get(name)
        if interval is None:  # the loader checks names; a miss here is a bug, not bad input
            raise KeyError(f"time interval {name!r} is not in the configuration")
        return interval


_alert_json = msgspec.json.Encoder()


def _encoded_size(alert: Alert) -> int:
    return len(_alert_json.encode(alert)) + 1  # its comma in the notification's list


def _row(entry: NflogEntry) -> NflogRow:
    return NflogRow(entry.firing, entry.resolved, entry.timestamp, entry.expires_at)
