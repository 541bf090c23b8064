"""The route and mute stages' per-record functions, and the muting view they share with group."""

from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.amconfig import parse_config
from pipeline.dead_letters import Rejected
from pipeline.models import Alert, AlertEvent, EnrichedAlert, Matcher, Silence, to_builtins
from pipeline.muting.view import MutingView
from pipeline.runtime.app import partition_of
from pipeline.stages.group import routed_alert
from pipeline.stages.mute import mute_record
from pipeline.stages.route import route_record

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

CONFIG = parse_config("""
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['service="db"']
      receiver: db
      group_by: ['...']
      continue: true
    - matchers: ['severity="critical"']
      receiver: pager
receivers: [{name: default}, {name: db}, {name: pager}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
""")


def enriched(labels: dict[str, str], ends_at: datetime | None = None) -> EnrichedAlert:
    alert = Alert.with_fingerprint(labels=labels, starts_at=NOW - timedelta(minutes=1), ends_at=ends_at,
                                   status="resolved" if ends_at and ends_at <= NOW else "firing", updated_at=NOW)
    return EnrichedAlert(alert=alert, source="t", source_format="direct", received_at=NOW)


def test_route_record_fans_out_one_record_per_route_keyed_by_group_key():
    value = wire.encode(enriched({"alertname": "Slow", "service": "db", "severity": "critical"}))
    outcome = route_record(value, CONFIG.routing_tree())
    assert not isinstance(outcome, Rejected)
    public = wire.decode(EnrichedAlert, outcome.enriched)
    assert [r.receiver for r in public.routes] == ["db", "pager"]
    keys = [k.decode() for k, _ in outcome.routed]
    assert keys == ['{}/{service="db"}:{alertname="Slow", service="db", severity="critical"}',
                    '{}/{severity="critical"}:{alertname="Slow"}']
    for key, record in outcome.routed:
        decoded = routed_alert(record)
        assert [r.group_key for r in decoded.routes] == [key.decode()]


def test_route_record_dead_letters_garbage():
    assert isinstance(route_record(b"\x00garbage", CONFIG.routing_tree()), Rejected)
    assert isinstance(routed_alert(wire.encode(enriched({"a": "b"}))), Rejected)  # no route: not from route


def test_mute_record_reports_silences_and_inhibition():
    view = MutingView.from_config(CONFIG)
    source = to_builtins(enriched({"alertname": "Down", "service": "db", "severity": "critical"}))
    view.apply("alerts.state", source["alert"]["fingerprint"].encode(), wire.encode(
        enriched({"alertname": "Down", "service": "db", "severity": "critical"})))
    silence = Silence(id="s1", matchers=[Matcher(name="alertname", value="Noisy")], starts_at=NOW - timedelta(hours=1),
                      ends_at=NOW + timedelta(hours=1), updated_at=NOW, created_by="me", comment="c")
    view.apply("silences", b"s1", wire.encode(silence))

    def state(labels):
        _, value = mute_record(wire.encode(enriched(labels)), view, NOW)
        decoded = wire.decode(EnrichedAlert, value)
        return decoded.state, decoded.silenced_by, bool(decoded.inhibited_by)

    assert state({"alertname": "Slow", "service": "db", "severity": "warning"}) == ("suppressed", [], True)
    assert state({"alertname": "Slow", "service": "web", "severity": "warning"}) == ("active", [], False)
    assert state({"alertname": "Noisy"}) == ("suppressed", ["s1"], False)
    view.apply("silences", b"s1", None)  # tombstone
    assert state({"alertname": "Noisy"}) == ("active", [], False)
    # The source resolves: its target comes back.
    view.apply("alerts.state", b"x", wire.encode(
        enriched({"alertname": "Down", "service": "db", "severity": "critical"}, ends_at=NOW - timedelta(seconds=1))))
    assert state({"alertname": "Slow", "service": "db", "severity": "warning"}) == ("active", [], False)


def test_view_skips_unreadable_records_instead_of_failing():
    view = MutingView.from_config(CONFIG)
    view.apply("silences", b"bad", b"{not json")
    view.apply("alerts.state", b"bad", b"\xc3\x01garbage")
    assert view.skipped == 2


def test_partition_of_matches_kafka_murmur2():
    # Values from Kafka's Java client (Utils.murmur2 & 0x7fffffff % n) for these keys.
    assert partition_of(b"abc", 6) == (479470107 & 0x7FFFFFFF) % 6
    assert {partition_of(str(i).encode(), 6) for i in range(100)} == set(range(6))


def test_view_reads_only_the_alert_states_that_can_inhibit():
    view = MutingView.from_config(CONFIG)
    assert view.topics == ["silences", "alerts.state"]
    plain = enriched({"alertname": "Slow", "service": "db", "severity": "warning"})
    view.apply("alerts.state", b"k", wire.encode(plain))
    assert len(view.inhibitor) == 0  # no rule's source: not stored
    source = enriched({"alertname": "Down", "service": "db", "severity": "critical"})
    state = AlertEvent(alert=source.alert, source="t", source_format="direct", received_at=NOW)
    view.apply("alerts.state", b"k", wire.encode_avro(state))  # Avro records take the full decode
    assert len(view.inhibitor) == 1
    resolved = enriched({"alertname": "Down", "service": "db", "severity": "critical"},
                        ends_at=NOW - timedelta(seconds=1))
    view.apply("alerts.state", b"k", wire.encode(resolved))  # a known source's update is applied
    assert view.muting({"alertname": "Slow", "service": "db", "severity": "warning"}, NOW).inhibited_by == []
    assert MutingView.from_config(parse_config("route: {receiver: r}\nreceivers: [{name: r}]")).topics == ["silences"]
