"""The grouping stage's state, without Kafka: Alertmanager's dispatcher plus notify pipeline.

One ``Dispatcher`` holds the aggregation groups and notification-log entries of the partitions a
worker owns. The stage feeds it routed alerts (``insert``) and calls ``flush_due`` on a short tick;
every change comes back as ``StateWrite``s for the changelog-backed tables, and every notification
to hand to the sinks. State is stored per group key, the key of the alerts.routed records, so a
group's state lives in the same partition as its alerts and moves with them on a rebalance:

- aggregation_groups[group key] = {route id: AggregationGroup state} (two sibling routes with equal
  matchers produce equal group keys; Alertmanager keeps them apart by route, and so do we);
- notification_log[group key] = {"receiver/integration/index": NflogEntry state} (Alertmanager's
  nflog key, including its quirk that such twin routes share log entries).

Order of effects at a flush, for no loss and no duplicate across a crash: the stage sends the
notifications and waits for the broker's ack, then writes the tables. A crash in between replays the
same flush (same flush_seq, so the same notification ids) and the sinks' delivery ledger drops the
repeat; a crash before the send loses nothing, the flush happens again after the restart.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from pipeline.amconfig.model import AlertmanagerConfig
from pipeline.grouping.aggregation import AggregationGroup, GroupTiming, exact_bytes
from pipeline.grouping.nflog import DEFAULT_RETENTION, NflogEntry, expired
from pipeline.grouping.notification import Integration, decide_flushes
from pipeline.models import Alert, Notification, RouteMatch
from pipeline.routing import Route

GROUPS_TABLE = "aggregation_groups"
NFLOG_TABLE = "notification_log"
# Alertmanager's dispatcher drops empty groups in its maintenance run, every 30 s; until then a
# new alert joins the existing group and is sent at its next group_interval tick, not after group_wait.
EMPTY_GROUP_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class StateWrite:
    table: str           # GROUPS_TABLE or NFLOG_TABLE
    key: str             # the group key
    value: bytes | None  # None: delete the key


@dataclass
class FlushResult:
    notifications: list[Notification] = field(default_factory=list)
    # Group keys whose state changed. Serialized by ``writes_for`` only once the notifications are
    # acknowledged, so inserts that arrive meanwhile are part of what is stored.
    touched: list[str] = field(default_factory=list)
    muted: int = 0  # alerts held back by silences, inhibition or time intervals


class UnknownRoute(LookupError):
    """A routed alert names a route the loaded configuration does not have (config changed)."""


MuteCheck = Callable[[Alert, datetime], bool]


def integrations_of(config: AlertmanagerConfig) -> dict[str, list[Integration]]:
    """Each receiver's notifiers as the notification log knows them (kind, index, send_resolved)."""
    out: dict[str, list[Integration]] = {}
    for receiver in config.receivers:
        out[receiver.name] = [
            Integration(receiver=receiver.name, send_resolved=i.send_resolved,
                        max_alerts=int(i.config.get("max_alerts") or 0), name=i.kind, index=i.index)
            for i in receiver.integrations
        ]
    return out


class Dispatcher:
    def __init__(self, config: AlertmanagerConfig, *, external_url: str = "",
                 retention: timedelta = DEFAULT_RETENTION) -> None:
        self.routes: dict[str, Route] = {route.id(): route for route in config.routing_tree().walk()}
        self.integrations = integrations_of(config)
        self.time_intervals = config.time_intervals
        self.external_url = external_url
        self.retention = retention
        self.groups: dict[str, dict[str, AggregationGroup]] = {}   # group key -> route id -> group
        self.nflog: dict[str, dict[str, NflogEntry]] = {}           # group key -> integration key -> entry
        self._empty_since: dict[tuple[str, str], datetime] = {}
        self._due: list[tuple[datetime, str, str]] = []            # (next flush, group key, route id)

    # -- loading what the tables hold ----------------------------------------------------------

    def loaded(self, group_key: str) -> bool:
        return group_key in self.groups

    def load(self, group_key: str, groups_value: bytes | None, nflog_value: bytes | None) -> None:
        """Take over a group key's stored state (after an assignment or before the first insert)."""
        groups = {}
        if groups_value:
            groups = {route_id: AggregationGroup.from_state(state)
                      for route_id, state in orjson.loads(groups_value).items()}
        self.groups[group_key] = groups
        self.nflog[group_key] = ({k: NflogEntry.from_state(v) for k, v in orjson.loads(nflog_value).items()}
                                 if nflog_value else {})
        for route_id, group in groups.items():
            heapq.heappush(self._due, (group.next_flush_at, group_key, route_id))

    def forget(self, group_key: str) -> None:
        """Drop a key from memory (its partition went to another worker); the tables keep it."""
        self.groups.pop(group_key, None)
        self.nflog.pop(group_key, None)

    def clear(self) -> None:
        self.groups.clear()
        self.nflog.clear()
        self._due.clear()
        self._empty_since.clear()

    # -- alerts in ---------------------------------------------------------------------------

    def insert(self, match: RouteMatch, alert: Alert, now: datetime,
               received_at: datetime | None = None) -> list[StateWrite]:
        """One alert routed to one group (``dispatcher.processAlert``). Call ``load`` first.

        A new group's timers start when the alert entered the pipeline (``received_at``, set by the
        bridge or normalize), not when it reached this stage: Alertmanager starts them on receipt, and
        the stages in between must not shift group_wait and the group_interval ticks by their latency.
        A record read late (consumer lag, a restart) is flushed as soon as its group_wait is over.
        """
        route = self.routes.get(match.route_key)
        if route is None:
            raise UnknownRoute(f"route {match.route_key!r} is not in the loaded configuration")
        groups = self.groups.setdefault(match.group_key, {})
        group = groups.get(match.route_key)
        created = group is None
        if group is None:
            timing = GroupTiming(route.opts.group_wait, route.opts.group_interval, route.opts.repeat_interval)
            started = min(now, received_at) if received_at is not None else now
            group = AggregationGroup.new(match.group_key, match.route_key, match.group_labels, timing, started)
            groups[match.route_key] = group
        before = group.next_flush_at
        group.insert(alert, now)
        self._empty_since.pop((match.group_key, match.route_key), None)
        if created or group.next_flush_at != before:
            heapq.heappush(self._due, (group.next_flush_at, match.group_key, match.route_key))
        return [self._groups_write(match.group_key)]

    # -- the tick ----------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        while self._due:
            at, key, route_id = self._due[0]
            group = self.groups.get(key, {}).get(route_id)
            if group is not None and group.next_flush_at == at:
                return at
            heapq.heappop(self._due)  # stale: rescheduled, deleted or forgotten
        return None

    def flush_due(self, now: datetime, is_muted: MuteCheck, limit: int = 1000) -> FlushResult:
        """Flush every group due at ``now`` (at most ``limit``, the rest at the next tick)."""
        result = FlushResult()
        touched: set[str] = set()
        flushed = 0
        while flushed < limit:
            at = self.next_due()
            if at is None or at > now:
                break
            _, key, route_id = heapq.heappop(self._due)
            self._flush_one(key, route_id, now, is_muted, result)
            touched.add(key)
            flushed += 1
        result.touched = sorted(touched)
        return result

    def group_writes(self, keys) -> list[StateWrite]:
        """The aggregation_groups values of these group keys as they are now (after inserts)."""
        return [self._groups_write(key) for key in keys]

    def writes_for(self, keys: list[str]) -> list[StateWrite]:
        """The table values of these group keys as they are now."""
        return [w for key in keys for w in self._writes(key)]

    def _flush_one(self, key: str, route_id: str, now: datetime, is_muted: MuteCheck, result: FlushResult) -> None:
        group = self.groups[key][route_id]
        snapshot = group.flush(now)
        heapq.heappush(self._due, (group.next_flush_at, key, route_id))
        if snapshot is None:
            self._collect_if_stale(key, route_id, group, now)
            return
        route = self.routes.get(route_id)
        visible = snapshot
        if route is None or self._time_muted(route, now):
            visible = snapshot.only(lambda _alert: False)
        else:
            visible = snapshot.only(lambda alert: not is_muted(alert, now))
        result.muted += len(snapshot.alerts) - len(visible.alerts)
        if visible.alerts and route is not None:
            entries = self.nflog.setdefault(key, {})
            decisions = decide_flushes(visible, entries, self.integrations.get(route.receiver, []), now,
                                       external_url=self.external_url, retention=self.retention)
            for decision in decisions:
                if decision.notify and decision.nflog_entry is not None:
                    entries[decision.integration.key] = decision.nflog_entry
                if decision.notification is not None:
                    result.notifications.append(decision.notification)
        # Handed to Kafka counts as notified: delivery and its retries are the sinks' job.
        group.notified(snapshot, success=True, now=now)
        if group.empty():
            self._empty_since.setdefault((key, route_id), now)

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

    def _collect_if_stale(self, key: str, route_id: str, group: AggregationGroup, now: datetime) -> None:
        since = self._empty_since.setdefault((key, route_id), now)
        if group.empty() and now - since >= EMPTY_GROUP_GRACE:
            del self.groups[key][route_id]
            del self._empty_since[(key, route_id)]

    # -- maintenance ---------------------------------------------------------------------------

    def collect_nflog(self, now: datetime) -> list[StateWrite]:
        """Delete expired notification-log entries (Alertmanager's maintenance, every 15 min)."""
        writes = []
        for key, entries in self.nflog.items():
            gone = [k for k, entry in entries.items() if expired(entry, now)]
            for k in gone:
                del entries[k]
            if gone:
                writes.append(self._nflog_write(key))
        return writes

    # -- table values --------------------------------------------------------------------------

    def _writes(self, key: str) -> list[StateWrite]:
        return [self._groups_write(key), self._nflog_write(key)]

    def _groups_write(self, key: str) -> StateWrite:
        groups = self.groups.get(key) or {}
        if not groups:
            self.groups.pop(key, None)
            return StateWrite(GROUPS_TABLE, key, None)
        return StateWrite(GROUPS_TABLE, key, _dumps({rid: orjson.Fragment(g.to_json()) for rid, g in groups.items()}))

    def _nflog_write(self, key: str) -> StateWrite:
        entries = self.nflog.get(key) or {}
        if not entries:
            return StateWrite(NFLOG_TABLE, key, None)
        return StateWrite(NFLOG_TABLE, key, _dumps({k: e.to_state() for k, e in entries.items()}))

    def stats(self) -> Mapping[str, Any]:
        return {"group_keys": len(self.groups), "groups": sum(len(g) for g in self.groups.values()),
                "nflog_keys": len(self.nflog)}


def _dumps(value: Any) -> bytes:
    return exact_bytes(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
