"""Property: a JSON round trip of any state at any point changes no later decision."""

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.grouping import (
    AggregationGroup,
    FlushSnapshot,
    GroupTiming,
    Integration,
    NflogEntry,
    decide_flush,
)
from pipeline.models import Alert

from tests.unit.grouping.simulation import Simulation, TestAlert

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)
HOOKS = [Integration("r", send_resolved=True, index=0), Integration("r", send_resolved=False, max_alerts=2, index=1)]


def trip(state):
    return json.loads(json.dumps(state))


timings = st.builds(
    GroupTiming,
    group_wait=st.sampled_from([0 * MS, 300 * MS, 1000 * MS]),
    group_interval=st.sampled_from([100 * MS, 700 * MS, 2000 * MS]),
    repeat_interval=st.sampled_from([1 * MS, 1500 * MS, 10_000 * MS]),
)

insert_op = st.tuples(
    st.just("insert"),
    st.integers(min_value=0, max_value=3),  # which alert
    st.sampled_from(["firing", "resolved"]),
    st.integers(min_value=-5000, max_value=5000),  # start, ms from now
    st.one_of(st.none(), st.integers(min_value=-3000, max_value=5000)),  # end, ms from now
    st.sampled_from([{}, {"v": "1"}]),
)
advance_op = st.tuples(st.just("advance"), st.integers(min_value=0, max_value=2500))
flush_op = st.tuples(st.just("flush"), st.booleans())  # notify success
ops = st.lists(st.one_of(insert_op, advance_op, flush_op), max_size=40)


class Driver:
    """One group, its log entries, and a record of every decision."""

    def __init__(self, timing, roundtrip):
        self.group = AggregationGroup.new("g", "{}", {}, timing, T0)
        self.nflog: dict[str, NflogEntry] = {}
        self.roundtrip = roundtrip
        self.now = T0
        self.trace = []

    def do(self, op):
        kind = op[0]
        if kind == "insert":
            _, which, status, start, end, annotations = op
            ends_at = None if end is None else self.now + end * MS
            if status == "resolved":
                ends_at = min(ends_at or self.now, self.now)
            alert = Alert.with_fingerprint(
                labels={"alertname": "a", "n": str(which)},
                annotations=annotations,
                starts_at=self.now + start * MS,
                ends_at=ends_at,
                status=status,
                updated_at=self.now,
            )
            self.group.insert(alert, self.now)
        elif kind == "advance":
            self.now += op[1] * MS
        elif kind == "flush":
            self.trace.append(("due", self.group.due(self.now), self.group.next_flush_at))
            if self.group.due(self.now):
                snapshot = self.group.flush(self.now)
                self.trace.append(("snapshot", snapshot and snapshot.to_state()))
                if snapshot is not None:
                    if self.roundtrip:
                        snapshot = FlushSnapshot.from_state(trip(snapshot.to_state()))
                    for hook in HOOKS:
                        decision = decide_flush(snapshot, self.nflog.get(hook.key), hook, self.now)
                        self.trace.append(("decision", decision.notify, decision.reason, decision.notification))
                        if decision.notify and op[1]:
                            self.nflog[hook.key] = decision.nflog_entry
                    self.trace.append(("removed", self.group.notified(snapshot, op[1], self.now)))
        if self.roundtrip:
            self.group = AggregationGroup.from_state(trip(self.group.to_state()))
            self.nflog = {k: NflogEntry.from_state(trip(e.to_state())) for k, e in self.nflog.items()}


@settings(max_examples=200, deadline=None)
@given(timings, ops)
def test_group_and_log_round_trip_at_every_step_changes_nothing(timing, operations):
    plain, tripped = Driver(timing, False), Driver(timing, True)
    for op in operations:
        plain.do(op)
        tripped.do(op)
    assert plain.trace == tripped.trace
    assert plain.group.to_state() == tripped.group.to_state()
    assert {k: e.to_state() for k, e in plain.nflog.items()} == {k: e.to_state() for k, e in tripped.nflog.items()}


push = st.tuples(
    st.integers(min_value=0, max_value=80),  # at, in 100 ms steps
    st.sampled_from(["a", "b", "c"]),  # instance
    st.one_of(st.none(), st.integers(min_value=-20, max_value=20)),  # start, steps from the push
    st.one_of(st.none(), st.integers(min_value=-10, max_value=40)),  # end, steps from the push
    st.sampled_from([{}, {"summary": "x"}, {"summary": "y"}]),
)


@settings(max_examples=40, deadline=None)
@given(
    timings,
    st.lists(push, max_size=12),
    st.frozensets(st.integers(min_value=0, max_value=100), max_size=20),
    st.sampled_from([(), ("instance",)]),
)
def test_whole_pipeline_round_trip_changes_no_notification(timing, pushes, failing_steps, group_by):
    def build(roundtrip):
        sim = Simulation(
            group_by=group_by,
            timing=timing,
            integrations=HOOKS,
            resolve_timeout=timedelta(seconds=3),
            roundtrip=roundtrip,
            fails=lambda t, _i: round(t * 10) in failing_steps,
        )
        for step, instance, start, end, annotations in pushes:
            when = step / 10
            starts = None if start is None else max(0.0, when + start / 10)
            ends = None if end is None else max(0.0, when + end / 10)
            if starts is not None and ends is not None and ends < starts:
                starts, ends = ends, starts
            sim.push(when, TestAlert({"alertname": "x", "instance": instance}, annotations, starts, ends))
        sim.run(until=10)
        return sim

    plain, tripped = build(False), build(True)
    assert plain.deliveries == tripped.deliveries
    assert plain.forwarded == tripped.forwarded
