"""Alertmanager's acceptance scenarios (test/with_api_v2/acceptance/send_test.go) as pure simulations.

Same configuration, same pushes at the same times, same expected batches in
the same windows, and no other notification until the last window ends (the
harness stops there).  Times are seconds from the start; the clock moves in
100 ms steps.  Every scenario also runs with every state JSON-round-tripped
after every step.
"""

from datetime import timedelta

import pytest

from pipeline.grouping import GroupTiming, Integration

from tests.unit.grouping.simulation import Simulation, alert, check_collector, seconds

S = timedelta(seconds=1)
DEFAULT = Integration("default")

roundtrip = pytest.mark.parametrize("roundtrip", [False, True], ids=["plain", "roundtrip"])


@roundtrip
def test_batching(roundtrip):
    sim = Simulation(
        group_by=(),
        timing=GroupTiming(group_wait=1 * S, group_interval=1 * S, repeat_interval=timedelta(milliseconds=4900)),
        integrations=[DEFAULT],
        roundtrip=roundtrip,
    )
    sim.push(1.1, alert("alertname", "test1").active(1))
    sim.push(1.7, alert("alertname", "test5").active(1))
    sim.push(
        3.3,
        alert("alertname", "test2").active(1.5),
        alert("alertname", "test3").active(1.5),
        alert("alertname", "test4").active(1.6),
    )
    all_five = [
        alert("alertname", "test1").active(1),
        alert("alertname", "test5").active(1),
        alert("alertname", "test2").active(1.5),
        alert("alertname", "test3").active(1.5),
        alert("alertname", "test4").active(1.6),
    ]
    check_collector(
        sim.run(until=9.5),
        [
            (2.0, 2.5, [alert("alertname", "test1").active(1), alert("alertname", "test5").active(1)]),
            (4.1, 4.5, all_five),
            # While no changes happen expect no additional notifications until the repeat interval has ended.
            (9.1, 9.5, all_five),
        ],
    )


@roundtrip
def test_repeat(roundtrip):
    sim = Simulation(
        group_by=("alertname",),
        timing=GroupTiming(group_wait=1 * S, group_interval=1 * S, repeat_interval=timedelta(milliseconds=1)),
        integrations=[DEFAULT],
        roundtrip=roundtrip,
    )
    sim.push(1, alert("alertname", "test").active(1))
    sim.push(3.5, alert("alertname", "test").active(1, 3))
    check_collector(
        sim.run(until=4.5),
        [
            (2, 2.5, [alert("alertname", "test").active(1)]),
            (3, 3.5, [alert("alertname", "test").active(1)]),
            (4, 4.5, [alert("alertname", "test").active(1, 3)]),
        ],
    )


@roundtrip
def test_resolved(roundtrip):
    sim = Simulation(
        group_by=("alertname",),
        timing=GroupTiming(group_wait=1 * S, group_interval=5 * S),
        integrations=[DEFAULT],
        resolve_timeout=10 * S,
        roundtrip=roundtrip,
    )
    sim.push(
        1,
        alert("alertname", "test", "lbl", "v1"),
        alert("alertname", "test", "lbl", "v2"),
        alert("alertname", "test", "lbl", "v3"),
    )
    check_collector(
        sim.run(until=13),
        [
            (
                2,
                2.5,
                [
                    alert("alertname", "test", "lbl", "v1").active(1),
                    alert("alertname", "test", "lbl", "v2").active(1),
                    alert("alertname", "test", "lbl", "v3").active(1),
                ],
            ),
            (
                12,
                13,
                [
                    alert("alertname", "test", "lbl", "v1").active(1, 11),
                    alert("alertname", "test", "lbl", "v2").active(1, 11),
                    alert("alertname", "test", "lbl", "v3").active(1, 11),
                ],
            ),
        ],
    )
    # Resolution reached the group through the dedup stage's expiry, at 11 s.
    expired = sorted((seconds(t), a.labels["lbl"]) for t, c, a in sim.forwarded if c == "expired")
    assert expired == [(11, "v1"), (11, "v2"), (11, "v3")]
    # After the resolved notification the group is empty (the 30 s cleanup would delete it).
    assert all(group.empty() for group in sim.groups.values())


@roundtrip
def test_resolved_filter(roundtrip):
    # Resolved alerts must be logged even when they are not sent, otherwise
    # when an alert fires again it is ambiguous whether it resolved in between.
    resolved_hook = Integration("default", send_resolved=True, index=0)
    firing_hook = Integration("default", send_resolved=False, index=1)
    sim = Simulation(
        group_by=("alertname",),
        timing=GroupTiming(group_wait=1 * S, group_interval=5 * S),
        integrations=[resolved_hook, firing_hook],
        resolve_timeout=10 * S,
        roundtrip=roundtrip,
    )
    sim.push(1, alert("alertname", "test", "lbl", "v1"), alert("alertname", "test", "lbl", "v2"))
    sim.push(3, alert("alertname", "test", "lbl", "v1").active(1, 4), alert("alertname", "test", "lbl", "v3"))
    sim.push(8, alert("alertname", "test", "lbl", "v3").active(3))
    sim.run(until=12.5)
    check_collector(
        sim.delivered_to(resolved_hook),
        [
            (2, 2.5, [alert("alertname", "test", "lbl", "v1").active(1), alert("alertname", "test", "lbl", "v2").active(1)]),
            (
                7,
                7.5,
                [
                    alert("alertname", "test", "lbl", "v1").active(1, 4),
                    alert("alertname", "test", "lbl", "v2").active(1),
                    alert("alertname", "test", "lbl", "v3").active(3),
                ],
            ),
            # Sent because v2 resolved by its timeout.
            (12, 12.5, [alert("alertname", "test", "lbl", "v2").active(1, 11), alert("alertname", "test", "lbl", "v3").active(3)]),
        ],
    )
    check_collector(
        sim.delivered_to(firing_hook),
        [
            (2, 2.5, [alert("alertname", "test", "lbl", "v1").active(1), alert("alertname", "test", "lbl", "v2").active(1)]),
            (7, 7.5, [alert("alertname", "test", "lbl", "v2").active(1), alert("alertname", "test", "lbl", "v3").active(3)]),
            # No notification after group_interval: no new alert fired.
            (12, 12.5, []),
        ],
    )
    # The send_resolved: false hook logged the resolved v1 it did not send.
    (group_key,) = sim.groups
    v1 = next(a.fingerprint for a in sim.store._states.values() if a.labels["lbl"] == "v1")
    assert v1 in sim.nflog[(group_key, firing_hook.key)].resolved
    notifications = [d.notification for d in sim.deliveries]
    assert len({n.id for n in notifications}) == len(notifications)


@roundtrip
@pytest.mark.parametrize("ends_at", [False, True], ids=["no-endsAt", "endsAt"])
def test_merge_alerts(roundtrip, ends_at):
    def timerange(ts):
        return (ts, ts + 3.0) if ends_at else (ts,)

    sim = Simulation(
        group_by=("alertname",),
        timing=GroupTiming(group_wait=1 * S, group_interval=1 * S, repeat_interval=timedelta(milliseconds=1)),
        integrations=[DEFAULT],
        roundtrip=roundtrip,
    )
    test = alert("alertname", "test")
    # Refresh an alert several times. The starting time must remain at the earliest point in time.
    sim.push(1, test.active(*timerange(1.1)))
    # Another Prometheus server might be sending later but with an earlier start time.
    sim.push(1.2, test.active(1))
    sim.push(2.1, test.annotate("ann", "v1").active(*timerange(2)))
    # Annotations are always overwritten by the alert that arrived most recently.
    sim.push(3.6, test.annotate("ann", "v2").active(*timerange(1.5)))
    # If an alert is marked resolved twice, the latest point in time must be set as the eventual resolve time.
    sim.push(4.6, test.annotate("ann", "v2").active(3, 4.5))
    sim.push(4.8, test.annotate("ann", "v3").active(2.9, 4.8))
    sim.push(4.8, test.annotate("ann", "v3").active(2.9, 4.1))
    # Reactivate an alert after a previous occurrence has been resolved. No overlap, no merge must occur.
    sim.push(5.3, test.active(*timerange(5)))
    check_collector(
        sim.run(until=6.5),
        [
            (2, 2.5, [test.active(1)]),
            (3, 3.5, [test.annotate("ann", "v1").active(1)]),
            (4, 4.5, [test.annotate("ann", "v2").active(1)]),
            (5, 5.5, [test.annotate("ann", "v3").active(1, 4.8)]),
            (6, 6.5, [test.active(5)]),
        ],
    )


@roundtrip
def test_failed_notify_is_retried_at_the_next_tick_and_deletes_nothing(roundtrip):
    hook = Integration("default")
    sim = Simulation(
        group_by=("alertname",),
        timing=GroupTiming(group_wait=1 * S, group_interval=2 * S, repeat_interval=3 * S),
        integrations=[hook],
        roundtrip=roundtrip,
        fails=lambda t, _i: t < 4.5 or 7.5 < t < 8.5,
    )
    sim.push(1, alert("alertname", "test1"))
    sim.push(6.5, alert("alertname", "test1").active(1, 6.5))
    check_collector(
        sim.run(until=10.5),
        [
            # The flushes at 2 and 4 failed: the whole group again at the next tick.
            (6, 6.5, [alert("alertname", "test1").active(1)]),
            # The resolved alert stayed in the group through the failed flush at 8.
            (10, 10.5, [alert("alertname", "test1").active(1, 6.5)]),
        ],
    )
    assert all(group.empty() for group in sim.groups.values())
