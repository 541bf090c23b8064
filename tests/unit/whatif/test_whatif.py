"""The what-if replay on the hand-worked timeline of tests/unit/whatif/timeline.py (expected diff worked out
there), the pairing rule of pipeline.whatif.diff on hand-made notifications, silences applied from when
they were written, and the report's exit code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline import wire
from pipeline.amconfig import parse_config
from pipeline.classification.config import parse_classification_file
from pipeline.models import Matcher, Silence
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.topology import load_topology
from pipeline.whatif.diff import pair
from pipeline.whatif.replay import RAW, Recorded, Sent, Setup, Timeline, replay
from pipeline.whatif.report import EXIT_LOST_PAGE, EXIT_OK, compare
from tests.unit.whatif.timeline import ALERTS, CANDIDATE, CURRENT, END, EXPECTED_RECEIVERS, RULES, T0, at, raw_alert

TOPOLOGY = load_topology(TOPOLOGIES_DIR / "default.yaml")
RULES_FILE = parse_classification_file(RULES)


def setup(name: str, text: str) -> Setup:
    return Setup(name, parse_config(text), RULES_FILE, f"{name}.yml")


def ms(seconds: float) -> int:
    return int(at(seconds).timestamp() * 1000)


def timeline(silences: list[Recorded] = (), alerts=ALERTS) -> Timeline:
    records = [Recorded(ms(t), None, raw_alert(labels, at(t)), (0, i, 0)) for i, (t, labels) in enumerate(alerts)]
    return Timeline(RAW, records, list(silences), T0, END)


def sent(outcome) -> list[tuple]:
    """(receiver, seconds after T0, status, sorted (instance, status)) of every notification."""
    names = {}
    for _, labels in ALERTS:
        from pipeline.fingerprint import alert_fingerprint
        names[alert_fingerprint(labels)] = labels["instance"]
    return sorted((s.receiver, (s.at - T0).total_seconds(), s.status, tuple(sorted((names[fp], st) for fp, st in s.alerts)))
                  for s in outcome.sent)


def test_each_replay_sends_what_the_table_says():
    current = replay(timeline(), setup("current", CURRENT), TOPOLOGY)
    assert sent(current) == [
        ("db", 30, "firing", (("db1", "firing"),)),
        ("db", 40, "firing", (("db2", "firing"), ("db9", "firing"))),
        ("db", 330, "resolved", (("db1", "resolved"),)),
        ("db", 340, "resolved", (("db2", "resolved"), ("db9", "resolved"))),
        ("web", 50, "firing", (("w1", "firing"), ("w2", "firing"))),
        ("web", 350, "resolved", (("w1", "resolved"), ("w2", "resolved"))),
    ]
    assert current.dead_letters == 0 and current.alert_records == 5
    candidate = replay(timeline(), setup("candidate", CANDIDATE), TOPOLOGY)
    assert sent(candidate) == [
        ("db", 30, "firing", (("db1", "firing"),)),
        ("db", 40, "firing", (("db9", "firing"),)),
        ("db", 330, "resolved", (("db1", "resolved"),)),
        ("db", 340, "resolved", (("db2", "resolved"), ("db9", "resolved"))),
        ("pager", 30, "firing", (("db1", "firing"),)),
        ("pager", 330, "resolved", (("db1", "resolved"),)),
        ("web", 50, "firing", (("w1", "firing"),)),
        ("web", 55, "firing", (("w2", "firing"),)),
        ("web", 350, "resolved", (("w1", "resolved"),)),
        ("web", 355, "resolved", (("w2", "resolved"),)),
    ]


def test_the_diff_of_the_hand_worked_timeline():
    report = compare(timeline(), setup("current", CURRENT), setup("candidate", CANDIDATE), TOPOLOGY, counted_from=T0)
    d = report.diff
    got = {name: (r.current, r.candidate, len(r.added), len(r.removed), len(r.changed), r.unchanged)
           for name, r in d.receivers.items()}
    assert got == EXPECTED_RECEIVERS
    [change] = d.receivers["db"].changed
    assert change.what == ("alerts",) and (change.before.at - T0).total_seconds() == 40
    assert len(change.before.alerts - change.after.alerts) == 1 and not change.after.alerts - change.before.alerts
    [inhibited] = d.newly_inhibited
    assert inhibited.labels["instance"] == "db2" and inhibited.labels["priority"] == "P2"
    assert d.no_longer_inhibited == [] and d.newly_silenced == [] and d.no_longer_silenced == []
    assert [(p.receiver, p.alertname, p.priority) for p in d.pages_lost] == [("db", "DbSlow", "P2")]
    assert [(p.receiver, p.alertname, p.priority) for p in d.pages_gained] == [("pager", "DbDown", "P0")]
    assert report.exit_code(["P0"]) == EXIT_OK and report.exit_code(["P2"]) == EXIT_LOST_PAGE
    data = report.to_json(["P0"])
    assert (data["notifications"]["added"], data["notifications"]["removed"], data["notifications"]["changed"],
            data["notifications"]["unchanged"]) == (6, 2, 1, 3)
    assert data["pages"] == {**data["pages"], "lost": {"P2": 1}, "gained": {"P0": 1}}
    assert data["inhibited"]["new"] == 1 and data["failOnLostPage"] == {"priorities": ["P0"], "lost": 0, "exitCode": 0}
    words = report.words(["P0"])
    assert "receiver 'pager': 0 → 2: +2 -0 ~0" in words and "alerts newly inhibited: 1" in words
    assert "pages lost: P2 1" in words and "pages gained: P0 1" in words


def test_the_reverse_change_loses_a_p0_page():
    # Going back from the candidate to the current configuration drops the pager route: its P0 page is lost.
    report = compare(timeline(), setup("current", CANDIDATE), setup("candidate", CURRENT), TOPOLOGY, counted_from=T0)
    assert [(p.receiver, p.priority) for p in report.diff.pages_lost] == [("pager", "P0")]
    assert report.exit_code(["P0"]) == EXIT_LOST_PAGE
    assert report.to_json(["P0"])["failOnLostPage"]["exitCode"] == 3
    assert "1 would be lost (exit 3)" in report.words(["P0"])


def test_the_same_configuration_changes_nothing():
    report = compare(timeline(), setup("current", CURRENT), setup("candidate", CURRENT), TOPOLOGY, counted_from=T0)
    assert report.diff.empty and "no difference" in report.words()
    assert {r.unchanged for r in report.diff.receivers.values()} == {4, 2}


def silence(sid: str, written: float, starts: float, ends: float, **equal: str) -> Recorded:
    value = Silence(id=sid, matchers=[Matcher(name=k, value=v) for k, v in equal.items()], starts_at=at(starts),
                    ends_at=at(ends), updated_at=at(written), created_by="t", comment="c")
    return Recorded(ms(written), sid.encode(), wire.encode(value))


def test_a_silence_applies_from_when_it_was_written():
    # The web alerts: WebErr@50 [w1, w2] firing, @350 resolved under CURRENT. A silence of instance=w2
    # written at 100 (starts at 0, as written) cannot unsend the 50 s notification; from 100 on w2 is
    # muted, so the resolved notification at 350 carries w1 only.
    web = [a for a in ALERTS if a[1]["team"] == "web"]
    outcome = replay(timeline([silence("s1", 100, 0, 3600, instance="w2")], alerts=web), setup("c", CURRENT), TOPOLOGY)
    assert [((s.at - T0).total_seconds(), len(s.alerts)) for s in outcome.sent] == [(50, 2), (350, 1)]
    [muted] = outcome.muted.alerts.values()
    assert muted.silenced and muted.silences == ["s1"] and muted.labels["instance"] == "w2"
    # written before the alerts: w2 is never notified; expired by a tombstone at 200: back at 350
    early = replay(timeline([silence("s1", 5, 0, 3600, instance="w2")], alerts=web), setup("c", CURRENT), TOPOLOGY)
    assert [len(s.alerts) for s in early.sent] == [1, 1]
    gone = Recorded(ms(200), b"s1", None)
    back = replay(timeline([silence("s1", 5, 0, 3600, instance="w2"), gone], alerts=web), setup("c", CURRENT), TOPOLOGY)
    assert [len(s.alerts) for s in back.sent] == [1, 2]


def _sent(at_s: float, *alerts: str, receiver="r", group="g", status="firing") -> Sent:
    return Sent(receiver, group, status, frozenset((a, status) for a in alerts), at(at_s), ("webhook/0",), (), ())


def test_pairing_same_content_first_then_in_time_order():
    # current: A@0, AB@300, A@4h (repeat); candidate: A@0, AB@600 (longer group_interval), B@900
    current = [_sent(0, "a"), _sent(300, "a", "b"), _sent(14400, "a")]
    candidate = [_sent(0, "a"), _sent(600, "a", "b"), _sent(900, "b")]
    unchanged, changes, removed, added = pair(current, candidate)
    # A@0 = A@0: unchanged; AB@300 ~ AB@600: same alerts, later ("time"); left over A@4h and B@900 pair in
    # time order: changed ("alerts" and "time"); nothing removed or added
    assert unchanged == 1
    assert [(c.what, (c.before.at - T0).total_seconds(), (c.after.at - T0).total_seconds()) for c in changes] == [
        (("time",), 300, 600), (("alerts", "time"), 14400, 900)]
    assert removed == [] and added == []
    unchanged, changes, removed, added = pair(current, [])
    assert (unchanged, changes, len(removed), added) == (0, [], 3, [])
    unchanged, changes, removed, added = pair([], candidate[:1])
    assert (unchanged, changes, removed, len(added)) == (0, [], [], 1)


def test_warm_up_notifications_do_not_count():
    # Counting from 45 s: the 30 s and 40 s notifications are warm-up in both replays, so the db change
    # at 40 and the pager's first page are not in the diff; the pager's resolved one (330) still is.
    report = compare(timeline(), setup("current", CURRENT), setup("candidate", CANDIDATE), TOPOLOGY,
                     counted_from=at(45))
    r = report.diff.receivers
    assert (len(r["pager"].added), len(r["db"].changed), r["db"].unchanged) == (1, 0, 2)
    assert report.diff.pages_gained == []


@pytest.mark.parametrize("cap", [1, 3])
def test_a_replay_stops_at_max_notifications(cap):
    from pipeline.whatif.replay import ReplayOptions

    outcome = replay(timeline(), setup("c", CURRENT), TOPOLOGY, ReplayOptions(max_notifications=cap))
    assert outcome.capped and len(outcome.sent) == cap and outcome.stopped_at < END - timedelta(minutes=10)


@pytest.mark.parametrize("args, message", [
    (["--since", "1h", "--from", "2026-01-01T00:00:00Z"], "--since and --from/--to are exclusive"),
    (["--from", "yesterday"], "--from 'yesterday': expected an RFC 3339 time"),
    (["--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], "before it starts"),
    (["--since", "30d"], "longer than whatif.max_window_s"),
])
def test_the_command_refuses_a_bad_window_before_reading(tmp_path, args, message):
    from click.testing import CliRunner

    from pipeline.cli import main

    candidate = tmp_path / "candidate.yml"
    candidate.write_text(CANDIDATE)
    result = CliRunner().invoke(main, ["whatif", "--config", str(candidate), *args])
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_the_command_refuses_a_candidate_that_does_not_load(tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    candidate = tmp_path / "candidate.yml"
    candidate.write_text("route:\n  receiver: nobody\nreceivers: []\n")
    result = CliRunner().invoke(main, ["whatif", "--config", str(candidate), "--since", "1h"])
    assert result.exit_code == 2 and "the candidate configuration does not load" in result.stderr
    assert "nobody" in result.stderr, result.stderr


def test_a_timeline_of_alerts_normalized_skips_normalize_and_replays_alike():
    from pipeline.stages.normalize import Normalized, normalize_record
    from pipeline.whatif.replay import NORMALIZED

    events = []
    for i, (t, labels) in enumerate(ALERTS):
        outcome = normalize_record(raw_alert(labels, at(t)), timestamp=at(t), resolve_timeout=timedelta(minutes=5),
                                   max_bytes=1 << 20)
        assert isinstance(outcome, Normalized)
        events.append(Recorded(ms(t), outcome.key, outcome.event, (0, i, 0)))
    normalized = replay(Timeline(NORMALIZED, events, [], T0, END), setup("current", CURRENT), TOPOLOGY)
    assert sent(normalized) == sent(replay(timeline(), setup("current", CURRENT), TOPOLOGY))
    assert normalized.alert_records == 5 and normalized.dead_letters == 0


def test_unreadable_records_are_dead_lettered_and_counted():
    bad = Recorded(ms(1), None, b"not an alert", (0, 99, 0))
    outcome = replay(Timeline(RAW, [bad], [], T0, END), setup("current", CURRENT), TOPOLOGY)
    assert (outcome.alert_records, outcome.dead_letters, outcome.sent) == (1, 1, [])


def test_a_mute_time_interval_is_evaluated_at_the_simulated_flush_time():
    # The candidate mutes the web route 12:00-12:03 (T0 is 12:00 on a Wednesday). By hand: WebErr's
    # first flush at 12:00:50 falls inside, so nothing is sent; its next one at 12:05:50 is outside, but
    # both alerts have resolved (12:05:20, 12:05:25) and nothing was notified firing, so no resolved
    # notification either. web: 2 → 0, both removed; the two WebErr pages (P2) are lost.
    muted_web = CURRENT.replace("      receiver: web\n", "      receiver: web\n      mute_time_intervals: [lunch]\n") + (
        "time_intervals:\n  - name: lunch\n    time_intervals: [{times: [{start_time: '12:00', end_time: '12:03'}]}]\n")
    report = compare(timeline(), setup("current", CURRENT), setup("candidate", muted_web), TOPOLOGY, counted_from=T0)
    web = report.diff.receivers["web"]
    assert (web.current, web.candidate, len(web.removed), len(web.added), len(web.changed)) == (2, 0, 2, 0, 0)
    assert sorted((p.receiver, p.alertname, p.priority) for p in report.diff.pages_lost) == [
        ("web", "WebErr", "P2"), ("web", "WebErr", "P2")]
    assert report.diff.receivers["db"].unchanged == 4
    # the same interval an hour later mutes nothing
    later = muted_web.replace("'12:00', end_time: '12:03'", "'13:00', end_time: '13:03'")
    assert compare(timeline(), setup("current", CURRENT), setup("candidate", later), TOPOLOGY,
                   counted_from=T0).diff.empty


def test_group_wait_zero_flushes_at_the_alert_and_timing_changes_are_changes():
    # One alert X (team=db) at 0 s. CURRENT: group_wait 30s, group_interval 5m: X@30 firing; it resolves
    # at 300 (resolve_timeout), sent at the 330 tick. Candidate: group_wait 0s, group_interval 4m on the
    # db route: X@0 (the flush right after the alert, no tick in between); 240: nothing new; 480: resolved.
    # Same alerts, other instants: two changes ("time"), nothing added or removed, the page is kept.
    fast = CURRENT.replace("      receiver: db\n", "      receiver: db\n      group_wait: 0s\n      group_interval: 4m\n")
    alone = [(0, {"alertname": "X", "team": "db", "instance": "x1"})]
    report = compare(timeline(alerts=alone), setup("current", CURRENT), setup("candidate", fast), TOPOLOGY,
                     counted_from=T0)
    db = report.diff.receivers["db"]
    assert [(c.what, (c.before.at - T0).total_seconds(), (c.after.at - T0).total_seconds(), c.after.status)
            for c in db.changed] == [(("time",), 30, 0, "firing"), (("time",), 330, 480, "resolved")]
    assert (db.unchanged, db.added, db.removed) == (0, [], [])
    assert report.diff.pages_lost == [] and report.diff.pages_gained == []
    assert "sent 30s earlier" in report.words() and "sent 2m30s later" in report.words()
