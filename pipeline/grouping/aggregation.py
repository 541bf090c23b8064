"""Aggregation groups: Alertmanager 0.25's dispatch.aggrGroup as a pure state machine.

One ``AggregationGroup`` per (route, group key).  The Go original runs a
goroutine with a timer; here the stage's timer asks ``due(now)`` and calls
``flush(now)``, and every decision depends only on (state, input, now).

Timing, as in dispatch.go:

- the group is created with its first alert; the first flush is due at
  creation + group_wait (``newAggrGroup``: ``time.NewTimer(GroupWait)``);
- ``insert``: while the group has never flushed, an alert with
  ``startsAt + group_wait < now`` makes the flush due at once (``Reset(0)``);
- every flush schedules the next one group_interval after the tick
  (``next.Reset(GroupInterval)`` runs when the tick is handled, before the
  flush itself).  Here the next tick is scheduled from the *scheduled* tick,
  so a stage timer that fires a little late does not shift the grid; if it is
  late by a whole group_interval or more (the stage was down), the next tick
  is group_interval after the late one, as Go's timer would do;
- a flush ticks even when the group is empty (it then notifies nothing);
- the dispatcher deletes empty groups every 30 s (its own ticker); deleting
  is the stage's job (``empty()``), and a later alert makes a new group, which
  waits group_wait again.

``flush(now)`` snapshots the group as ``aggrGroup.flush`` does: a copy of every
alert, endsAt cleared on the ones not resolved at ``now`` ("ensure that alerts
don't resolve as time moves forwards"), sorted with ``types.AlertSlice``'s
order (job, then instance - alerts having the label first - then
``LabelSet.Before``).  The notification pipeline then decides whether anything
is sent (``pipeline.grouping.notification``).  After a successful notify,
``notified`` deletes the resolved alerts of the snapshot that were not
re-inserted since (same updatedAt); a failed notify deletes nothing and the
next tick retries with the whole group.

Resolution.  The group reads an alert as resolved at ``now`` when its status
is "resolved" and its endsAt (if any) is not after ``now``.  It never turns a
firing alert resolved on its own from a passed endsAt: its copy's endsAt may
be stale, because the dedup stage does not forward refreshes that only move
endsAt.  Resolution arrives as an update (change "resolved" or "expired"),
see ``pipeline.dedup.store``.

Alerts are replaced on insert (``store.Alerts.Set``): the dedup stage already
merged them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from pipeline.dedup.codec import (
    alert_from_state,
    alert_to_state,
    check_aware,
    datetime_from_state,
    datetime_to_state,
    duration_from_state,
    duration_to_state,
)
from pipeline.models import Alert
from pipeline.models import replace as replace_record

__all__ = [
    "AggregationGroup",
    "FlushSnapshot",
    "GroupTiming",
    "alert_less",
    "is_resolved",
    "sort_alerts",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STATE_VERSION = 1


@dataclass(frozen=True)
class GroupTiming:
    """A route's timing options (Alertmanager defaults: 30s, 5m, 4h)."""

    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)

    def __post_init__(self) -> None:
        # config.go: group_interval and repeat_interval may not be 0; group_wait may.
        if self.group_wait < timedelta(0):
            raise ValueError(f"group_wait must not be negative, got {self.group_wait}")
        if self.group_interval <= timedelta(0):
            raise ValueError(f"group_interval must be positive, got {self.group_interval}")
        if self.repeat_interval <= timedelta(0):
            raise ValueError(f"repeat_interval must be positive, got {self.repeat_interval}")

    def to_state(self) -> dict[str, int]:
        return {
            "group_wait_us": duration_to_state(self.group_wait),
            "group_interval_us": duration_to_state(self.group_interval),
            "repeat_interval_us": duration_to_state(self.repeat_interval),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> GroupTiming:
        return cls(
            group_wait=duration_from_state(state["group_wait_us"]),
            group_interval=duration_from_state(state["group_interval_us"]),
            repeat_interval=duration_from_state(state["repeat_interval_us"]),
        )


def is_resolved(alert: Alert, now: datetime) -> bool:
    """The group's reading of an alert at ``now`` (see the module docstring)."""
    return alert.status == "resolved" and (alert.ends_at is None or alert.ends_at <= now)


def _labels_before(ls: Mapping[str, str], o: Mapping[str, str]) -> bool:
    # prometheus/common model.LabelSet.Before.  Python compares str by code
    # point, which is Go's bytewise order of their UTF-8.
    if len(ls) != len(o):
        return len(ls) < len(o)
    for name in sorted([*ls, *o]):
        if name not in ls:
            return True
        if name not in o:
            return False
        if ls[name] != o[name]:
            return ls[name] < o[name]
    return False


def alert_less(a: Alert, b: Alert) -> bool:
    """types.AlertSlice.Less: job, then instance (present before absent), then LabelSet.Before."""
    for key in ("job", "instance"):
        a_has, b_has = key in a.labels, key in b.labels
        if not a_has and not b_has:
            continue
        if not a_has:
            return False
        if not b_has:
            return True
        if a.labels[key] != b.labels[key]:
            return a.labels[key] < b.labels[key]
    return _labels_before(a.labels, b.labels)


def _compare(a: Alert, b: Alert) -> int:
    if alert_less(a, b):
        return -1
    if alert_less(b, a):
        return 1
    return 0


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """``sort.Stable(types.AlertSlice(alerts))``."""
    return sorted(alerts, key=functools.cmp_to_key(_compare))


@dataclass(frozen=True)
class FlushSnapshot:
    """One flush of one group: the alerts as the notification pipeline sees them.

    Firing alerts have ``ends_at=None`` and status "firing"; resolved ones keep
    their endsAt and have status "resolved".  ``at`` is the flush time, which
    the pipeline uses as "now".
    """

    group_key: str
    route_key: str
    group_labels: Mapping[str, str]
    timing: GroupTiming
    flush_seq: int
    at: datetime
    alerts: tuple[Alert, ...] = field(default=())

    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")

    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "resolved")

    def firing_hashes(self) -> frozenset[str]:
        """The notification log's firing set (Alertmanager hashes labels only: the fingerprint)."""
        return frozenset(a.fingerprint for a in self.alerts if a.status == "firing")

    def resolved_hashes(self) -> frozenset[str]:
        return frozenset(a.fingerprint for a in self.alerts if a.status == "resolved")

    def only(self, keep: Callable[[Alert], bool]) -> FlushSnapshot:
        """The snapshot restricted to the alerts ``keep`` accepts (e.g. not silenced or inhibited).

        Notify with the restricted one; pass the full one to ``notified``: Alertmanager's
        flush removes resolved alerts whether or not a mute stage dropped them.
        """
        return replace(self, alerts=tuple(a for a in self.alerts if keep(a)))

    def to_state(self) -> dict[str, Any]:
        return {
            **_identity_state(self),
            "flush_seq": self.flush_seq,
            "at": datetime_to_state(self.at),
            "alerts": [alert_to_state(a) for a in self.alerts],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FlushSnapshot:
        _check_version(state)
        return cls(
            group_key=state["group_key"],
            route_key=state["route_key"],
            group_labels=dict(state["group_labels"]),
            timing=GroupTiming.from_state(state["timing"]),
            flush_seq=state["flush_seq"],
            at=datetime_from_state(state["at"]),
            alerts=tuple(alert_from_state(a) for a in state["alerts"]),
        )


def exact_bytes(data: bytes) -> bytes:
    """A copy of ``data`` in an allocation of its own size. orjson.dumps' result keeps the 4 KiB
    buffer it was written in (measured with tracemalloc: 4,097 bytes for a 420-byte value), which
    is most of the memory of a value that stays in a table or cache."""
    return bytes(memoryview(data))


def _identity_state(group: FlushSnapshot | AggregationGroup) -> dict[str, Any]:
    """What a group and each of its snapshots store alike: which group, and its timing."""
    return {
        "version": STATE_VERSION,
        "group_key": group.group_key,
        "route_key": group.route_key,
        "group_labels": dict(sorted(group.group_labels.items())),
        "timing": group.timing.to_state(),
    }


def _check_version(state: Mapping[str, Any]) -> None:
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported state version {state.get('version')!r}, expected {STATE_VERSION}")


class AggregationGroup:
    """The state of one aggregation group (see the module docstring).

    Mutable: ``insert``, ``flush`` and ``notified`` update it in place; store
    ``to_state()`` after each.
    """

    __slots__ = (
        "_alerts",
        "_state_cache",
        "created_at",
        "flush_seq",
        "group_key",
        "group_labels",
        "has_flushed",
        "next_flush_at",
        "route_key",
        "timing",
    )

    def __init__(
        self,
        *,
        group_key: str,
        route_key: str,
        group_labels: Mapping[str, str],
        timing: GroupTiming,
        created_at: datetime,
        next_flush_at: datetime,
        has_flushed: bool = False,
        flush_seq: int = 0,
        alerts: Iterable[Alert] = (),
    ) -> None:
        self.group_key = group_key
        self.route_key = route_key
        self.group_labels = dict(group_labels)
        self.timing = timing
        self.created_at = check_aware(created_at, "created_at")
        self.next_flush_at = check_aware(next_flush_at, "next_flush_at")
        self.has_flushed = has_flushed
        #: The sequence number the next flush gets.
        self.flush_seq = flush_seq
        self._alerts: dict[str, Alert] = {a.fingerprint: a for a in alerts}
        # Each alert's stored JSON, kept between to_json() calls: the stage stores the group after
        # every batch that touches it, and re-dumping every alert of a large group each time made
        # inserts O(size) in Python. Bytes, not the state dicts: a third of the memory per alert.
        self._state_cache: dict[str, orjson.Fragment] = {}

    @classmethod
    def new(
        cls,
        group_key: str,
        route_key: str,
        group_labels: Mapping[str, str],
        timing: GroupTiming,
        now: datetime,
        *,
        first_flush_seq: int | None = None,
    ) -> AggregationGroup:
        """A new, empty group created at ``now``; its first flush is due at now + group_wait.

        Flush sequence numbers start at ``first_flush_seq``, by default the
        creation time in microseconds since the epoch: a group deleted when
        empty and created again under the same key keeps producing fresh
        notification ids (each flush is at least group_interval after the
        previous one, so the numbers of two lifetimes of a key never meet).
        """
        check_aware(now)
        if first_flush_seq is None:
            first_flush_seq = (now - _EPOCH) // timedelta(microseconds=1)
        if first_flush_seq < 0:
            raise ValueError(f"flush sequence numbers are not negative, got {first_flush_seq}")
        return cls(
            group_key=group_key,
            route_key=route_key,
            group_labels=group_labels,
            timing=timing,
            created_at=now,
            next_flush_at=now + timing.group_wait,
            flush_seq=first_flush_seq,
        )

    # -- queries ---------------------------------------------------------------

    @property
    def alerts(self) -> tuple[Alert, ...]:
        """The group's alerts as inserted, in AlertSlice order."""
        return tuple(sort_alerts(self._alerts.values()))

    def get(self, fingerprint: str) -> Alert | None:
        return self._alerts.get(fingerprint)

    def empty(self) -> bool:
        return not self._alerts

    def due(self, now: datetime) -> bool:
        """Is a flush tick due at ``now``?"""
        return check_aware(now) >= self.next_flush_at

    # -- transitions -----------------------------------------------------------

    def insert(self, alert: Alert, now: datetime) -> None:
        """Add or replace ``alert`` (by fingerprint), as ``aggrGroup.insert``."""
        check_aware(now)
        self._alerts[alert.fingerprint] = alert
        self._state_cache.pop(alert.fingerprint, None)
        # Immediately trigger a flush if the wait duration for this alert is already over.
        if not self.has_flushed and alert.starts_at + self.timing.group_wait < now:
            self.next_flush_at = min(self.next_flush_at, now)

    def flush(self, now: datetime) -> FlushSnapshot | None:
        """Run the due tick at ``now``: schedule the next one and snapshot the group.

        None when the group is empty (Alertmanager notifies nothing then).
        Raises ValueError when no tick is due.
        """
        if not self.due(now):
            raise ValueError(
                f"group {self.group_key!r}: no flush due at {now.isoformat()} "
                f"(next at {self.next_flush_at.isoformat()})"
            )
        interval = self.timing.group_interval
        following = self.next_flush_at + interval
        self.next_flush_at = following if following > now else now + interval
        self.has_flushed = True
        seq = self.flush_seq
        self.flush_seq += 1
        if not self._alerts:
            return None
        alerts = []
        for alert in self._alerts.values():
            if is_resolved(alert, now):
                alerts.append(alert)
            else:
                # Ensure that alerts don't resolve as time moves forwards.
                alerts.append(replace_record(alert, ends_at=None, status="firing"))
        return FlushSnapshot(
            group_key=self.group_key,
            route_key=self.route_key,
            group_labels=dict(self.group_labels),
            timing=self.timing,
            flush_seq=seq,
            at=now,
            alerts=tuple(sort_alerts(alerts)),
        )

    def notified(self, snapshot: FlushSnapshot, success: bool, now: datetime) -> list[str]:
        """Outcome of notifying ``snapshot`` (the full one, before any muting).

        On success, delete the snapshot's resolved alerts that were not
        inserted again since (same updatedAt); on failure delete nothing.
        Returns the fingerprints deleted.
        """
        check_aware(now)
        if snapshot.group_key != self.group_key:
            raise ValueError(f"snapshot of group {snapshot.group_key!r} given to group {self.group_key!r}")
        if not success:
            return []
        removed = []
        for alert in snapshot.alerts:
            if alert.status != "resolved":
                continue
            current = self._alerts.get(alert.fingerprint)
            if current is not None and current.updated_at == alert.updated_at:
                del self._alerts[alert.fingerprint]
                self._state_cache.pop(alert.fingerprint, None)
                removed.append(alert.fingerprint)
        return removed

    # -- state -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return self._state([alert_to_state(self._alerts[fp]) for fp in sorted(self._alerts)])

    def to_json(self) -> bytes:
        """``to_state()`` as JSON (sorted keys), each alert's part reused from the last call."""
        return orjson.dumps(self._state([self._alert_json(fp) for fp in sorted(self._alerts)]),
                            option=orjson.OPT_SORT_KEYS)

    def _state(self, alerts: list) -> dict[str, Any]:
        return {
            **_identity_state(self),
            "created_at": datetime_to_state(self.created_at),
            "next_flush_at": datetime_to_state(self.next_flush_at),
            "has_flushed": self.has_flushed,
            "flush_seq": self.flush_seq,
            "alerts": alerts,
        }

    def _alert_json(self, fingerprint: str) -> orjson.Fragment:
        part = self._state_cache.get(fingerprint)
        if part is None:
            part = self._state_cache[fingerprint] = orjson.Fragment(exact_bytes(
                orjson.dumps(alert_to_state(self._alerts[fingerprint]), option=orjson.OPT_SORT_KEYS)))
        return part

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AggregationGroup:
        _check_version(state)
        return cls(
            group_key=state["group_key"],
            route_key=state["route_key"],
            group_labels=state["group_labels"],
            timing=GroupTiming.from_state(state["timing"]),
            created_at=datetime_from_state(state["created_at"]),
            next_flush_at=datetime_from_state(state["next_flush_at"]),
            has_flushed=bool(state["has_flushed"]),
            flush_seq=int(state["flush_seq"]),
            alerts=[alert_from_state(a) for a in state["alerts"]],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggregationGroup):
            return NotImplemented
        return self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"AggregationGroup({self.group_key!r}, alerts={len(self._alerts)}, "
            f"next_flush_at={self.next_flush_at.isoformat()}, flush_seq={self.flush_seq})"
        )
