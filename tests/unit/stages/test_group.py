"""The group processor under the in-memory runtime: routing to groups (by the route processor), flush
ticks, muting at flush time, time intervals, per-integration notifications, and what a restarted
worker recovers from the changelogs."""

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.amconfig import parse_config
from pipeline import wire
from pipeline.models import Alert, EnrichedAlert, Matcher, RouteMatch, Silence, replace
from pipeline.stages.group import GroupProcessor
from pipeline.stages.route import RouteProcessor
from tests.unit.stages.support import dead_letters, runtime

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


class Pipeline:
    """route + group on the in-memory runtime, and what was notified."""

    def __init__(self, config_text: str = CONFIG, **options):
        config = parse_config(config_text)
        self.rt = runtime(RouteProcessor(config.routing_tree()),
                          GroupProcessor(config, max_flushes_per_tick=options.get("limit", 1000),
                                         external_url=options.get("external_url", ""),
                                         **({"max_notification_bytes": options["max_bytes"]}
                                            if "max_bytes" in options else {})))
        self.seen = 0

    def insert(self, a: Alert, now: datetime, received_at: datetime | None = None) -> None:
        event = EnrichedAlert(alert=a, source="t", source_format="direct", received_at=received_at or now)
        self.rt.send("alerts.muted", a.fingerprint.encode(), event, now)

    def flush(self, now: datetime) -> list:
        """Tick at ``now``: the notifications it sent."""
        self.rt.tick(now)
        sent = self.rt.values("notifications")
        new, self.seen = sent[self.seen:], len(sent)
        return new


def test_group_wait_then_one_notification_per_integration():
    p = Pipeline(external_url="http://am")
    p.insert(alert("Disk", team="db"), at(0))
    assert p.flush(at(0.9)) == []
    sent = p.flush(at(1.0))
    # db has two webhooks (continue: true), db-night is time-muted: two notifications, distinct ids.
    assert sorted((n.receiver, n.integration) for n in sent) == [("db", "webhook/0"), ("db", "webhook/1")]
    assert len({n.id for n in sent}) == 2
    assert {n.external_url for n in sent} == {"http://am"}
    assert {n.group_key for n in sent} == {'{}/{team="db"}:{alertname="Disk"}'}


def test_nothing_new_nothing_sent_until_repeat_interval():
    p = Pipeline()
    p.insert(alert("Load"), at(0))
    assert len(p.flush(at(1))) == 1
    assert p.flush(at(3)) == []
    p.insert(alert("Load", instance="b"), at(3.5))  # a second alert in the group
    # (group_by alertname: same group) -> sent at the next group_interval tick
    assert p.flush(at(4.9)) == []
    sent = p.flush(at(5))
    assert len(sent) == 1 and len(sent[0].alerts) == 2


def test_muted_alerts_are_held_back_at_flush_time():
    p = Pipeline()
    silence = Silence(id="s1", matchers=[Matcher(name="alertname", value="Cpu")], starts_at=at(-60),
                      ends_at=at(2), updated_at=at(-60), created_by="me", comment="c")
    p.rt.follow("silences", b"s1", silence)
    p.insert(alert("Cpu"), at(0))
    assert p.flush(at(1)) == []
    # The silence ends: the next tick notifies (nothing was logged while muted).
    assert len(p.flush(at(3))) == 1


def test_resolved_alert_is_sent_once_then_removed_and_empty_group_collected():
    p = Pipeline()
    p.insert(alert("Net"), at(0))
    p.flush(at(1))
    p.insert(alert("Net", end=1.5), at(2))
    [resolved] = p.flush(at(3))
    assert resolved.status == "resolved"
    assert p.flush(at(5)) == []
    headers = p.rt.table("group", "group_headers")
    headers.owned = frozenset(range(headers.partitions))
    assert len(headers) == 1 and len(p.rt.table("group", "group_alerts")) == 0
    for second in range(7, 41, 2):  # the group ticks on, empty, for longer than Alertmanager's 30 s
        p.flush(at(second))
    assert len(headers) == 0


def test_a_restarted_worker_resumes_the_same_schedule_and_sequence():
    p = Pipeline()
    p.insert(alert("Mem"), at(0))
    first = p.flush(at(1))
    restarted = Pipeline()
    restarted.rt.restore(p.rt.changelogs())
    assert restarted.rt.table("group", "group_headers").next_due() == at(3)
    # Nothing changed and the log says it was sent: the restarted worker does not send it again.
    assert restarted.flush(at(3)) == []
    restarted.insert(alert("Mem", instance="x"), at(3.5))
    [n] = restarted.flush(at(5))
    assert n.flush_seq == first[0].flush_seq + 2


def test_a_replayed_flush_has_the_same_notification_id():
    # A crash after the send and before the state was logged replays the flush: same ids, so the
    # sinks' ledger drops the repeat.
    p = Pipeline()
    p.insert(alert("Io"), at(0))
    before = p.rt.changelogs()
    sent = p.flush(at(1))
    replay = Pipeline()
    replay.rt.restore(before)
    assert [n.id for n in replay.flush(at(1.2))] == [n.id for n in sent]


def test_a_record_for_an_unknown_route_or_without_one_is_dead_lettered():
    p = Pipeline()
    gone = EnrichedAlert(alert=alert("X"), source="t", source_format="direct", received_at=at(0),
                         routes=[RouteMatch(receiver="gone", route_key='{}/{x="y"}/7', group_key="k")])
    p.rt.send("alerts.routed", b"k", gone, at(0))
    p.rt.send("alerts.routed", b"k", EnrichedAlert(alert=alert("Y"), source="t", source_format="direct",
                                                   received_at=at(0)), at(0))
    assert [d["__connect.errors.exception.class.name"] for d in dead_letters(p.rt)] == ["UnknownRoute",
                                                                                        "RoutingError"]


def test_flush_limit_spreads_work_over_ticks():
    p = Pipeline(limit=3)
    for i in range(5):
        p.insert(alert(f"A{i}"), at(0))
    assert len(p.flush(at(1))) == 3
    assert len(p.flush(at(1.05))) == 2


def test_group_timers_start_when_the_alert_entered_the_pipeline():
    # The stages before grouping took 0.4 s: group_wait still ends 1 s after receipt, as in Alertmanager.
    p = Pipeline()
    p.insert(alert("Late"), at(0.4), received_at=at(0))
    headers = p.rt.table("group", "group_headers")
    assert headers.next_due() == at(1)
    assert len(p.flush(at(1))) == 1
    assert headers.next_due() == at(3)  # the group_interval ticks keep that phase


def test_an_insert_writes_one_row_whatever_the_group_size():
    p = Pipeline()
    for i in range(50):
        p.insert(alert("Big", instance=f"i{i}"), at(0))
    logged = p.rt.changelogs()
    rows = [w for w in logged["pipeline-group-group_alerts-changelog"]]
    headers = [w for w in logged["pipeline-group-group_headers-changelog"]]
    assert len(rows) == 50 and len(headers) == 1  # one row per alert; the header once (a new group)
    [n] = p.flush(at(1))
    assert len(n.alerts) == 50


def test_a_group_too_large_for_one_record_is_cut_and_counts_the_rest_as_truncated():
    limit = 256 * 1024
    p = Pipeline(max_bytes=limit)
    for i in range(200):
        a = replace(alert("Huge", instance=f"i{i:03d}"), annotations={"description": "x" * 2000})
        p.insert(a, at(0))
    [n] = p.flush(at(1))
    assert 1 <= len(n.alerts) < 200
    assert n.truncated_alerts == 200 - len(n.alerts)
    assert len(wire.encode(n)) <= limit
    assert p.flush(at(3)) == []  # the cut alerts are logged as notified, as max_alerts' are


@pytest.mark.parametrize("seconds", [0.5])
def test_group_wait_zero_asks_for_a_tick_at_once(seconds):
    p = Pipeline(CONFIG.replace("group_wait: 1s", "group_wait: 0s"))
    group = next(proc for proc in p.rt.executors[1].processors)
    p.insert(alert("Now"), at(seconds))
    assert group.wants_tick(at(seconds)) and not group.wants_tick(at(seconds))


# -- the first flush and the event-time watermark ----------------------------------------------------------
WAIT_CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:1/default"}]
"""


def waiting_pipeline(watermark: dict[str, int | None]) -> Pipeline:
    p = Pipeline(WAIT_CONFIG)
    group = next(r.processor for e in p.rt.executors for r in e.runners if isinstance(r.processor, GroupProcessor))
    group.first_flush_max_wait = timedelta(milliseconds=250)
    group.watermark_ms = lambda partition: watermark["ms"]
    return p


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_first_flush_waits_until_the_watermark_passes_the_groups_creation():
    watermark: dict[str, int | None] = {"ms": None}
    p = waiting_pipeline(watermark)
    p.insert(alert("A", instance="1"), at(0))
    assert p.flush(at(0.01)) == []            # no upstream report yet
    watermark["ms"] = ms(at(0)) - 1
    assert p.flush(at(0.02)) == []            # upstream not yet past the first alert's receipt
    p.insert(alert("A", instance="2"), at(0.03), received_at=at(0))  # its POST sibling, late
    watermark["ms"] = ms(at(0))
    sent = p.flush(at(0.04))
    assert len(sent) == 1 and len(sent[0].alerts) == 2


def test_first_flush_waits_at_most_first_flush_max_wait():
    p = waiting_pipeline({"ms": None})
    p.insert(alert("A", instance="1"), at(0))
    assert p.flush(at(0.2)) == []
    assert len(p.flush(at(0.25))) == 1


def test_later_flushes_do_not_wait_for_the_watermark():
    watermark: dict[str, int | None] = {"ms": ms(at(0))}
    p = waiting_pipeline(watermark)
    p.insert(alert("A", instance="1"), at(0))
    assert len(p.flush(at(0))) == 1
    watermark["ms"] = None
    p.insert(alert("A", instance="2"), at(10))
    assert len(p.flush(at(300))) == 1          # group_interval later, with no report at all


def test_without_a_runtime_watermark_nothing_waits():
    p = Pipeline(WAIT_CONFIG)
    p.insert(alert("A", instance="1"), at(0))
    assert len(p.flush(at(0))) == 1
