"""The route and mute stages' per-record functions, and the muting view they share with group."""

from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.amconfig import parse_config
from pipeline.dead_letters import Rejected
from pipeline.models import Alert, AlertEvent, EnrichedAlert, Matcher, Silence
from pipeline.muting.view import MutingView
from pipeline.runtime.partitioning import partition_of
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
    outcome = route_record(enriched({"alertname": "Slow", "service": "db", "severity": "critical"}),
                           CONFIG.routing_tree())
    public = wire.decode(EnrichedAlert, wire.encode(outcome.enriched))
    assert [r.receiver for r in public.routes] == ["db", "pager"]
    keys = [k.decode() for k, _ in outcome.routed]
    assert keys == ['{}/{service="db"}:{alertname="Slow", service="db", severity="critical"}',
                    '{}/{severity="critical"}:{alertname="Slow"}']
    for key, record in outcome.routed:
        assert [r.group_key for r in record.routes] == [key.decode()]


def test_mute_record_reports_silences_and_inhibition():
    view = MutingView.from_config(CONFIG)
    source = enriched({"alertname": "Down", "service": "db", "severity": "critical"})
    view.apply("alert_states", source.alert.fingerprint.encode(), wire.encode(
        enriched({"alertname": "Down", "service": "db", "severity": "critical"})))
    silence = Silence(id="s1", matchers=[Matcher(name="alertname", value="Noisy")], starts_at=NOW - timedelta(hours=1),
                      ends_at=NOW + timedelta(hours=1), updated_at=NOW, created_by="me", comment="c")
    view.apply("silences", b"s1", wire.encode(silence))

    def state(labels):
        decoded = mute_record(enriched(labels), view, NOW)
        return decoded.state, decoded.silenced_by, bool(decoded.inhibited_by)

    assert state({"alertname": "Slow", "service": "db", "severity": "warning"}) == ("suppressed", [], True)
    assert state({"alertname": "Slow", "service": "web", "severity": "warning"}) == ("active", [], False)
    assert state({"alertname": "Noisy"}) == ("suppressed", ["s1"], False)
    view.apply("silences", b"s1", None)  # tombstone
    assert state({"alertname": "Noisy"}) == ("active", [], False)
    # The source resolves: its target comes back.
    view.apply("alert_states", b"x", wire.encode(
        enriched({"alertname": "Down", "service": "db", "severity": "critical"}, ends_at=NOW - timedelta(seconds=1))))
    assert state({"alertname": "Slow", "service": "db", "severity": "warning"}) == ("active", [], False)


def test_view_skips_unreadable_records_instead_of_failing():
    view = MutingView.from_config(CONFIG)
    view.apply("silences", b"bad", b"{not json")
    view.apply("alert_states", b"bad", b"\xc3\x01garbage")
    assert view.skipped == 2


def test_partition_of_matches_kafka_murmur2():
    # Values from Kafka's Java client (Utils.murmur2 & 0x7fffffff % n) for these keys.
    assert partition_of(b"abc", 6) == (479470107 & 0x7FFFFFFF) % 6
    assert {partition_of(str(i).encode(), 6) for i in range(100)} == set(range(6))


def test_view_reads_only_the_alert_states_that_can_inhibit():
    view = MutingView.from_config(CONFIG)
    assert view.ports == ("silences", "alert_states")
    plain = enriched({"alertname": "Slow", "service": "db", "severity": "warning"})
    view.apply("alert_states", b"k", wire.encode(plain))
    assert len(view.inhibitor) == 0  # no rule's source: not stored
    source = enriched({"alertname": "Down", "service": "db", "severity": "critical"})
    state = AlertEvent(alert=source.alert, source="t", source_format="direct", received_at=NOW)
    view.apply("alert_states", b"k", wire.encode_avro(state))  # Avro records take the full decode
    assert len(view.inhibitor) == 1
    resolved = enriched({"alertname": "Down", "service": "db", "severity": "critical"},
                        ends_at=NOW - timedelta(seconds=1))
    view.apply("alert_states", b"k", wire.encode(resolved))  # a known source's update is applied
    assert view.muting({"alertname": "Slow", "service": "db", "severity": "warning"}, NOW).inhibited_by == []
    assert MutingView.from_config(parse_config("route: {receiver: r}\nreceivers: [{name: r}]")).ports == ("silences",)
