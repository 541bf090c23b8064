"""A whole Alertmanager-like pipeline of the pure core, driven by a fake clock.

normalize → dedup store (merge, changes, expiry) → one route with group_by →
aggregation groups → per-integration notification log and notifications.
Time advances in fixed steps (100 ms by default); at each step the pipeline
does, in order, what is due:

1. the alerts pushed at this instant (normalize, ``AlertStore.apply``, forward
   the changes to their groups);
2. dedup expiry (forward "expired");
3. the flush of every due group (``decide_flush`` per integration; a failing
   integration keeps its old log entry and fails the group's notify);
4. every 30 s, deletion of the empty groups (the dispatcher's cleanup ticker);
   every 15 min, deletion of the expired log entries (nflog maintenance).

With ``roundtrip=True`` every state (store, groups, log) goes through
``to_state`` → JSON → ``from_state`` after every step: the deliveries must not
change.  This is also the reference of how the stages use the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pipeline.dedup import AlertStore
from pipeline.grouping import (
    MAINTENANCE_INTERVAL,
    AggregationGroup,
    GroupTiming,
    Integration,
    NflogEntry,
    decide_flush,
    expired,
)
from pipeline.ingest.normalize import normalize
from pipeline.models import Alert, Notification, RawAlert

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CLEANUP_INTERVAL_MS = 30_000
MAINTENANCE_INTERVAL_MS = MAINTENANCE_INTERVAL // timedelta(milliseconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(milliseconds=round(seconds * 1000))


def seconds(moment: datetime) -> float:
    return (moment - T0) / timedelta(milliseconds=1) / 1000


@dataclass(frozen=True)
class TestAlert:
    """The acceptance harness' ``Alert(...)``: labels, annotations, optional start/end in seconds."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts: float | None = None
    ends: float | None = None

    __test__ = False  # not a pytest class

    def active(self, starts: float, ends: float | None = None) -> TestAlert:
        return TestAlert(self.labels, self.annotations, starts, ends)

    def annotate(self, name: str, value: str) -> TestAlert:
        return TestAlert(self.labels, {**self.annotations, name: value}, self.starts, self.ends)

    def raw(self, now: datetime) -> RawAlert:
        return RawAlert(
            labels=self.labels,
            annotations=self.annotations,
            starts_at=None if self.starts is None else at(self.starts),
            ends_at=None if self.ends is None else at(self.ends),
            source="sim",
            source_format="alertmanager-v2",
            received_at=now,
        )

    def expect(self) -> tuple:
        """How the alert must look in a notification (ends None: firing)."""
        return (
            tuple(sorted(self.labels.items())),
            tuple(sorted(self.annotations.items())),
            at(self.starts if self.starts is not None else 0),
            None if self.ends is None else at(self.ends),
        )


def alert(*pairs: str) -> TestAlert:
    return TestAlert(dict(zip(pairs[::2], pairs[1::2], strict=True)))


def observed(a: Alert) -> tuple:
    return (tuple(sorted(a.labels.items())), tuple(sorted(a.annotations.items())), a.starts_at, a.ends_at)


@dataclass(frozen=True)
class Delivery:
    at: datetime
    integration: str
    notification: Notification

    def batch(self) -> frozenset:
        return frozenset(observed(a) for a in self.notification.alerts)


def _label_string(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


class Simulation:
    def __init__(
        self,
        *,
        group_by: tuple[str, ...] | None,
        timing: GroupTiming,
        integrations: list[Integration],
        resolve_timeout: timedelta = timedelta(minutes=5),
        step_ms: int = 100,
        roundtrip: bool = False,
        fails: Callable[[float, Integration], bool] | None = None,
        route_key: str = "{}",
    ) -> None:
        self.group_by = group_by
        self.timing = timing
        self.integrations = integrations
        self.resolve_timeout = resolve_timeout
        self.step_ms = step_ms
        self.roundtrip = roundtrip
        self.fails = fails or (lambda _t, _i: False)
        self.route_key = route_key
        self.pushes: dict[int, list[TestAlert]] = {}
        self.store = AlertStore()
        self.groups: dict[str, AggregationGroup] = {}
        self.nflog: dict[tuple[str, str], NflogEntry] = {}
        self.deliveries: list[Delivery] = []
        self.forwarded: list[tuple[datetime, str | None, Alert]] = []

    def push(self, when: float, *alerts: TestAlert) -> None:
        self.pushes.setdefault(round(when * 1000), []).extend(alerts)

    # -- the pipeline --------------------------------------------------------

    def _dispatch(self, state: Alert, now: datetime) -> None:
        if self.group_by is None:
            group_labels = dict(state.labels)
        else:
            group_labels = {k: v for k, v in state.labels.items() if k in self.group_by}
        group_key = f"{self.route_key}:{_label_string(group_labels)}"
        group = self.groups.get(group_key)
        if group is None:
            group = self.groups[group_key] = AggregationGroup.new(
                group_key, self.route_key, group_labels, self.timing, now
            )
        group.insert(state, now)

    def _flush(self, group: AggregationGroup, now: datetime) -> None:
        snapshot = group.flush(now)
        if snapshot is None:
            return
        success = True
        for integration in self.integrations:
            key = (group.group_key, integration.key)
            decision = decide_flush(snapshot, self.nflog.get(key), integration, now)
            if not decision.notify:
                continue
            if self.fails(seconds(now), integration):
                success = False
                continue
            if decision.notification is not None:
                self.deliveries.append(Delivery(now, integration.key, decision.notification))
            self.nflog[key] = decision.nflog_entry
        group.notified(snapshot, success, now)

    def step(self, t_ms: int) -> None:
        now = T0 + timedelta(milliseconds=t_ms)
        for test_alert in self.pushes.get(t_ms, ()):
            applied = self.store.apply(normalize(test_alert.raw(now), self.resolve_timeout), now)
            self.forwarded.append((now, applied.change, applied.state))
            if applied.forward:
                self._dispatch(applied.state, now)
        for state in self.store.expire_due(now):
            self.forwarded.append((now, "expired", state))
            self._dispatch(state, now)
        for key in sorted(self.groups):
            if self.groups[key].due(now):
                self._flush(self.groups[key], now)
        if t_ms and t_ms % CLEANUP_INTERVAL_MS == 0:
            for key in [k for k, g in self.groups.items() if g.empty()]:
                del self.groups[key]
        if t_ms and t_ms % MAINTENANCE_INTERVAL_MS == 0:
            for key in [k for k, e in self.nflog.items() if expired(e, now)]:
                del self.nflog[key]
        if self.roundtrip:
            self._roundtrip()

    def _roundtrip(self) -> None:
        def trip(state):
            return json.loads(json.dumps(state))

        self.store = AlertStore.from_state(trip(self.store.to_state()))
        self.groups = {k: AggregationGroup.from_state(trip(g.to_state())) for k, g in self.groups.items()}
        self.nflog = {k: NflogEntry.from_state(trip(e.to_state())) for k, e in self.nflog.items()}

    def run(self, until: float) -> list[Delivery]:
        for t_ms in range(0, round(until * 1000) + 1, self.step_ms):
            self.step(t_ms)
        return self.deliveries

    # -- checks ----------------------------------------------------------------

    def delivered_to(self, integration: Integration) -> list[Delivery]:
        return [d for d in self.deliveries if d.integration == integration.key]


def check_collector(
    deliveries: list[Delivery], wanted: list[tuple[float, float, list[TestAlert]]]
) -> None:
    """The acceptance harness' check: each window holds exactly one matching batch, nothing else arrives.

    A window with no alerts wants no notification in it.
    """
    remaining = list(deliveries)
    for start, end, alerts in wanted:
        inside = [d for d in remaining if at(start) <= d.at <= at(end)]
        if not alerts:
            assert not inside, f"no notification wanted in [{start}, {end}], got {_show(inside)}"
            continue
        expected = frozenset(a.expect() for a in alerts)
        matching = [d for d in inside if d.batch() == expected]
        assert len(inside) == 1 and matching, (
            f"want one batch in [{start}, {end}]: {sorted(expected)}; got {_show(inside)}"
        )
        remaining.remove(matching[0])
    assert not remaining, f"unexpected notifications: {_show(remaining)}"


def _show(deliveries: list[Delivery]) -> str:
    return "; ".join(f"{seconds(d.at)}s {d.integration}: {sorted(d.batch())}" for d in deliveries) or "none"
