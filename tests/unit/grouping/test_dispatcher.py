"""The grouping stage's state without Kafka: routing to groups, flush ticks, muting at flush time,
time intervals, per-integration notifications and the table round trip a restarted worker relies on."""

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.amconfig import parse_config
from pipeline.grouping.dispatcher import GROUPS_TABLE, NFLOG_TABLE, Dispatcher, UnknownRoute
from pipeline.models import Alert, RouteMatch
from pipeline.stages.route import route_matches

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: db
      continue: true
    - matchers: ['team="db"']
      receiver: db-night
      mute_time_intervals: [always]
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:1/default"}]
  - name: db
    webhook_configs:
      - {url: "http://127.0.0.1:1/a"}
      - {url: "http://127.0.0.1:1/b", send_resolved: false}
  - name: db-night
    webhook_configs: [{url: "http://127.0.0.1:1/night"}]
time_intervals:
  - name: always
    time_intervals: [{}]
"""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(name: str, start: float = 0, end: float | None = None, **labels: str) -> Alert:
    return Alert.with_fingerprint(labels={"alertname": name, **labels}, starts_at=at(start),
                                  ends_at=at(end) if end is not None else None,
                                  status="resolved" if end is not None else "firing",
                                  updated_at=at(start))


def never_muted(_alert, _now) -> bool:
    return False


@pytest.fixture
def config():
    return parse_config(CONFIG)


def insert(dispatcher: Dispatcher, config, a: Alert, now: datetime) -> list:
    writes = []
    for match in route_matches(config.routing_tree(), a.labels):
        if not dispatcher.loaded(match.group_key):
            dispatcher.load(match.group_key, None, None)
        writes += dispatcher.insert(match, a, now)
    return writes


def test_group_wait_then_one_notification_per_integration(config):
    d = Dispatcher(config, external_url="http://am")
    insert(d, config, alert("Disk", team="db"), at(0))
    assert d.flush_due(at(0.9), never_muted).notifications == []
    result = d.flush_due(at(1.0), never_muted)
    # db has two webhooks (continue: true), db-night is time-muted: two notifications, distinct ids.
    assert sorted((n.receiver, n.integration) for n in result.notifications) == [("db", "webhook/0"),
                                                                                 ("db", "webhook/1")]
    assert len({n.id for n in result.notifications}) == 2
    assert {n.external_url for n in result.notifications} == {"http://am"}
    assert result.muted == 1  # the time-muted route's alert
    assert result.touched == ['{}/{team="db"}:{alertname="Disk"}']


def test_nothing_new_nothing_sent_until_repeat_interval(config):
    d = Dispatcher(config)
    insert(d, config, alert("Load"), at(0))
    assert len(d.flush_due(at(1), never_muted).notifications) == 1
    assert d.flush_due(at(3), never_muted).notifications == []
    insert(d, config, alert("Load", instance="b"), at(3.5))  # a second alert in the group
    # (group_by alertname: same group) -> sent at the next group_interval tick
    assert d.flush_due(at(4.9), never_muted).notifications == []
    sent = d.flush_due(at(5), never_muted).notifications
    assert len(sent) == 1 and len(sent[0].alerts) == 2


def test_muted_alerts_are_held_back_at_flush_time(config):
    d = Dispatcher(config)
    insert(d, config, alert("Cpu"), at(0))
    muted = d.flush_due(at(1), lambda a, now: True)
    assert muted.notifications == [] and muted.muted == 1
    # The silence ends: the next tick notifies (nothing was logged while muted).
    assert len(d.flush_due(at(3), never_muted).notifications) == 1


def test_resolved_alert_is_sent_once_then_removed_and_empty_group_collected(config):
    d = Dispatcher(config)
    insert(d, config, alert("Net"), at(0))
    d.flush_due(at(1), never_muted)
    insert(d, config, alert("Net", end=1.5), at(2))
    [resolved] = d.flush_due(at(3), never_muted).notifications
    assert resolved.status == "resolved"
    assert d.flush_due(at(5), never_muted).notifications == []
    key = '{}:{alertname="Net"}'
    assert d.loaded(key)
    d.flush_due(at(40), never_muted)  # empty for longer than Alertmanager's 30 s maintenance
    writes = d.writes_for([key])
    assert [w for w in writes if w.table == GROUPS_TABLE][0].value is None


def test_state_round_trip_resumes_the_same_schedule_and_sequence(config):
    d = Dispatcher(config)
    insert(d, config, alert("Mem"), at(0))
    first = d.flush_due(at(1), never_muted)
    key = first.touched[0]
    stored = {w.table: w.value for w in d.writes_for([key])}

    restarted = Dispatcher(config)
    restarted.load(key, stored[GROUPS_TABLE], stored[NFLOG_TABLE])
    assert restarted.next_due() == at(3)
    # Nothing changed and the log says it was sent: the restarted worker does not send it again.
    assert restarted.flush_due(at(3), never_muted).notifications == []
    insert(restarted, config, alert("Mem", instance="x"), at(3.5))
    [n] = restarted.flush_due(at(5), never_muted).notifications
    assert n.flush_seq == first.notifications[0].flush_seq + 2


def test_a_replayed_flush_has_the_same_notification_id(config):
    # A crash after the send and before the state write replays the flush: same ids, so the sinks'
    # ledger drops the repeat.
    d = Dispatcher(config)
    insert(d, config, alert("Io"), at(0))
    key = '{}:{alertname="Io"}'
    before = {w.table: w.value for w in d.writes_for([key])}
    sent = d.flush_due(at(1), never_muted).notifications
    replay = Dispatcher(config)
    replay.load(key, before[GROUPS_TABLE], before[NFLOG_TABLE])
    assert [n.id for n in replay.flush_due(at(1.2), never_muted).notifications] == [n.id for n in sent]


def test_unknown_route_is_refused(config):
    d = Dispatcher(config)
    match = RouteMatch(receiver="gone", route_key="{}/{x=\"y\"}/7", group_key="k")
    with pytest.raises(UnknownRoute):
        d.insert(match, alert("X"), at(0))


def test_flush_limit_spreads_work_over_ticks(config):
    d = Dispatcher(config)
    for i in range(5):
        insert(d, config, alert(f"A{i}"), at(0))
    assert len(d.flush_due(at(1), never_muted, limit=3).notifications) == 3
    assert len(d.flush_due(at(1.05), never_muted, limit=3).notifications) == 2


def test_group_timers_start_when_the_alert_entered_the_pipeline(config):
    # The stages before grouping took 0.4 s: group_wait still ends 1 s after receipt, as in Alertmanager.
    d = Dispatcher(config)
    a = alert("Late")
    for match in route_matches(config.routing_tree(), a.labels):
        d.load(match.group_key, None, None)
        d.insert(match, a, at(0.4), received_at=at(0))
    assert d.next_due() == at(1)
    assert len(d.flush_due(at(1), never_muted).notifications) == 1
    assert d.next_due() == at(3)  # the group_interval ticks keep that phase
