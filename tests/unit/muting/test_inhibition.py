"""Mirrors Alertmanager v0.25.0 inhibit/inhibit_test.go (TestInhibitRuleHasEqual,
TestInhibitRuleMatches, TestInhibitRuleMatchers, TestInhibit) plus state and config tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.matchers import Matcher, Matchers, MatchType, parse_matchers
from pipeline.models import Alert
from pipeline.muting.inhibition import Inhibitor, InhibitRule, InhibitRuleError

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)
HOUR = timedelta(hours=1)
OPEN = object()


def alert(labels: dict[str, str], ends_at: datetime | None | object = OPEN) -> Alert:
    end = NOW + HOUR if ends_at is OPEN else ends_at
    return Alert.with_fingerprint(
        labels=labels,
        starts_at=NOW - MIN,
        ends_at=end,
        status="resolved" if end is not None and end <= NOW else "firing",
        updated_at=NOW,
    )


def rule(source: str, target: str, equal: tuple[str, ...] = ()) -> InhibitRule:
    return InhibitRule(parse_matchers(source), parse_matchers(target), equal)


# --- TestInhibitRuleHasEqual ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "equal", "target", "inhibited"),
    [
        ([], (), {"a": "b"}, False),  # no source alerts at all
        ([alert({}, None)], (), {"a": "b"}, True),  # no equal labels: any unresolved source
        (  # matching but already resolved
            [alert({"a": "b", "b": "f"}, NOW - SEC), alert({"a": "b", "b": "c"}, NOW - SEC)],
            ("a", "b"),
            {"a": "b", "b": "c"},
            False,
        ),
        (  # matching and unresolved
            [alert({"a": "b", "c": "d"}, NOW - SEC), alert({"a": "b", "c": "f"}, NOW + HOUR)],
            ("a",),
            {"a": "b"},
            True,
        ),
        (  # equal label does not match
            [alert({"a": "c", "c": "d"}, NOW - SEC), alert({"a": "c", "c": "f"}, NOW - SEC)],
            ("a",),
            {"a": "b"},
            False,
        ),
        ([alert({"a": "b"})], ("a", "z"), {"a": "b"}, True),  # missing on both sides = ""
        ([alert({"a": "b", "z": ""})], ("z",), {"z": "x"}, False),
    ],
)
def test_has_equal(sources: list[Alert], equal: tuple[str, ...], target: dict, inhibited: bool):
    # The Go test calls hasEqual(target, false) on a rule whose cache holds every source.  Here:
    # every alert is a source (no source matchers); the target side needs a label the sources
    # lack, so no source is two-sided and the self-inhibition exclusion never applies.
    target_side = Matchers([Matcher("zz_target", MatchType.EQUAL, "1")])
    inhibitor = Inhibitor([InhibitRule(Matchers(), target_side, equal)])
    for a in sources:
        inhibitor.observe(a)
    assert inhibitor.mutes({**target, "zz_target": "1"}, NOW) is inhibited
    # With both sides matching everything, nothing ever inhibits (an alert never inhibits
    # itself, nor anything matching both sides like it does).
    both = Inhibitor([InhibitRule(Matchers(), Matchers(), equal)])
    for a in sources:
        both.observe(a)
    assert both.mutes(target, NOW) is False


# --- TestInhibitRuleMatches / TestInhibitRuleMatchers -----------------------------------------


def _matches_inhibitor(rules: list[InhibitRule]) -> Inhibitor:
    inhibitor = Inhibitor(rules)
    # Active alert that matches the source filter of rule1.
    inhibitor.observe(alert({"s1": "1", "t1": "2", "e": "1"}))
    # Active alert that matches the source filter _and_ the target filter of rule2.
    inhibitor.observe(alert({"s2": "1", "t2": "1", "e": "1"}))
    return inhibitor


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"t1": "1", "e": "1"}, True),  # target of rule1
        ({"t2": "1", "e": "1"}, True),  # target of rule2
        ({"t1": "1", "t3": "1", "e": "1"}, True),  # plus noise
        ({"t1": "1", "t2": "1", "e": "1"}, True),  # targets of both rules
        ({"t1": "0", "e": "1"}, False),  # no target filter matches
        # Both sides of rule1: inhibited, because sourceAlert1 only matches rule1's source side.
        ({"s1": "1", "t1": "1", "e": "1"}, True),
        # Both sides of rule2: not inhibited, sourceAlert2 also matches both sides.
        ({"s2": "1", "t2": "1", "e": "1"}, False),
        ({"t1": "1", "e": "0"}, False),  # equal label differs
    ],
)
def test_inhibit_rule_matches(target: dict, expected: bool) -> None:
    inhibitor = _matches_inhibitor(
        [rule('s1="1"', 't1="1"', ("e",)), rule('s2="1"', 't2="1"', ("e",))]
    )
    assert inhibitor.mutes(target, NOW) is expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"t1": "1", "e": "1"}, False),
        ({"t2": "1", "e": "1"}, True),
        ({"t1": "1", "t3": "1", "e": "1"}, False),
        ({"t1": "1", "t2": "1", "e": "1"}, True),
        ({"t1": "0", "e": "1"}, True),
        ({"s1": "1", "t1": "1", "e": "1"}, False),
        ({"s2": "1", "t2": "1", "e": "1"}, True),
        ({"t1": "1", "e": "0"}, False),
    ],
)
def test_inhibit_rule_matchers(target: dict, expected: bool) -> None:
    # The new-style matchers, with a != target matcher on rule1.
    inhibitor = _matches_inhibitor(
        [rule('s1="1"', 't1!="1"', ("e",)), rule('s2="1"', 't2="1"', ("e",))]
    )
    assert inhibitor.mutes(target, NOW) is expected


# --- TestInhibit ------------------------------------------------------------------------------

ALERT_ONE = {"t": "1", "e": "f"}
ALERT_TWO = {"s": "1", "e": "f"}


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        # alertOne is not muted while alertTwo has not fired
        ([alert(ALERT_ONE)], [(ALERT_ONE, False)]),
        # alertOne is muted by the active alertTwo
        ([alert(ALERT_ONE), alert(ALERT_TWO)], [(ALERT_ONE, True), (ALERT_TWO, False)]),
        # alertOne is not muted once alertTwo is resolved
        (
            [alert(ALERT_ONE), alert(ALERT_TWO), alert(ALERT_TWO, NOW - SEC)],
            [(ALERT_ONE, False), (ALERT_TWO, False)],
        ),
    ],
)
def test_inhibit(alerts: list[Alert], expected: list[tuple[dict, bool]]) -> None:
    inhibitor = Inhibitor([rule('s="1"', 't="1"', ("e",))])
    for a in alerts:
        inhibitor.observe(a)
    for labels, muted in expected:
        assert inhibitor.mutes(labels, NOW) is muted


# --- more -------------------------------------------------------------------------------------


def test_inhibited_by_reports_one_fingerprint_and_resolution_is_time_based() -> None:
    inhibitor = Inhibitor([rule('alertname="JobDown"', 'alertname="InstanceDown"', ("job",))])
    source = alert({"alertname": "JobDown", "job": "aa"}, NOW + MIN)
    assert inhibitor.observe(source)
    assert not inhibitor.observe(alert({"alertname": "Other", "job": "aa"}))
    target = {"alertname": "InstanceDown", "job": "aa", "instance": "i1"}
    assert inhibitor.inhibited_by(target, NOW) == [source.fingerprint]
    assert inhibitor.inhibited_by({**target, "job": "bb"}, NOW) == []
    # endsAt reached: resolved, no longer inhibits -- without any new observation.
    assert inhibitor.inhibited_by(target, NOW + MIN) == []
    assert inhibitor.inhibited_by(target, NOW + MIN - timedelta(microseconds=1)) == [
        source.fingerprint
    ]


def test_resolved_source_can_fire_again() -> None:
    inhibitor = Inhibitor([rule('s="1"', 't="1"')])
    inhibitor.observe(alert({"s": "1"}, NOW - SEC))
    assert not inhibitor.mutes({"t": "1"}, NOW)
    inhibitor.observe(alert({"s": "1"}, None))
    assert inhibitor.mutes({"t": "1"}, NOW)


def test_first_rule_wins_and_choice_is_deterministic() -> None:
    rules = [rule('s="a"', 't="1"'), rule('s=~"a|b"', 't="1"')]
    a1 = alert({"s": "a", "n": "1"}, NOW + MIN)
    a2 = alert({"s": "a", "n": "2"}, NOW + 2 * MIN)
    b = alert({"s": "b"}, None)
    for order in ([a1, a2, b], [b, a2, a1]):
        inhibitor = Inhibitor(rules)
        for a in order:
            inhibitor.observe(a)
        # Rule 1 applies first; among its sources the latest endsAt is reported.
        assert inhibitor.inhibited_by({"t": "1"}, NOW) == [a2.fingerprint]
        assert inhibitor.inhibiting_sources({"t": "1"}, NOW) == sorted(
            [a1.fingerprint, a2.fingerprint, b.fingerprint]
        )
        # Once rule 1's sources are resolved, rule 2 answers.
        assert inhibitor.inhibited_by({"t": "1"}, NOW + 3 * MIN) == [b.fingerprint]


def test_gc_drops_resolved_sources_only() -> None:
    inhibitor = Inhibitor([rule('s="1"', 't="1"')])
    resolved = alert({"s": "1", "n": "1"}, NOW - SEC)
    firing = alert({"s": "1", "n": "2"}, None)
    later = alert({"s": "1", "n": "3"}, NOW + MIN)
    for a in (resolved, firing, later):
        inhibitor.observe(a)
    assert inhibitor.gc(NOW, grace=MIN) == []
    assert inhibitor.gc(NOW) == [resolved.fingerprint]
    assert len(inhibitor) == 2
    assert inhibitor.gc(NOW + MIN) == [later.fingerprint]
    assert inhibitor.mutes({"t": "1"}, NOW + HOUR)


def test_state_round_trip_is_plain_json_and_deterministic() -> None:
    rules = [rule('s="1"', 't="1"', ("e",)), rule('s="1"', 'u="1"')]
    alerts = [
        alert({"s": "1", "e": "x"}),
        alert({"s": "1", "e": "y"}, None),
        alert({"s": "1", "e": "z"}, NOW - SEC),
        alert({"other": "1"}),
    ]
    a = Inhibitor(rules)
    b = Inhibitor(rules)
    for x in alerts:
        a.observe(x)
    for x in reversed(alerts):
        b.observe(x)
    state = a.to_state()
    assert state == b.to_state()
    assert json.loads(json.dumps(state)) == state
    assert len(state["sources"]) == 3
    restored = Inhibitor.from_state(rules, json.loads(json.dumps(state)))
    assert restored.to_state() == state
    for labels in ({"t": "1", "e": "x"}, {"t": "1", "e": "y"}, {"t": "1", "e": "z"}, {"u": "1"}):
        assert restored.inhibited_by(labels, NOW) == a.inhibited_by(labels, NOW)
    # A changed configuration keeps only the sources of the new rules.
    narrowed = Inhibitor.from_state([rule('e="y"', 't="1"')], state)
    assert len(narrowed) == 1
    with pytest.raises(ValueError):
        Inhibitor.from_state(rules, {"version": 99})


def test_rule_from_config() -> None:
    r = InhibitRule.from_config(
        {
            "source_match": {"alertname": "JobDown"},
            "source_match_re": {"severity": "crit|page"},
            "source_matchers": ['zone=~"eu-.*"', "team!=x"],
            "target_matchers": ["alertname=InstanceDown"],
            "equal": ["job", "zone"],
        }
    )
    assert r.equal == ("job", "zone")
    assert r.source_matchers.matches(
        {"alertname": "JobDown", "severity": "page", "zone": "eu-1", "team": "y"}
    )
    assert not r.source_matchers.matches(
        {"alertname": "JobDown", "severity": "pager", "zone": "eu-1"}
    )
    assert r.target_matchers.matches({"alertname": "InstanceDown"})
    for bad in (
        {"source_match": {"0bad": "x"}},
        {"equal": ["bad-name"]},
        {"target_matchers": ["a=~("]},
        {"source": {}},
    ):
        with pytest.raises(InhibitRuleError):
            InhibitRule.from_config(bad)


def test_source_whose_end_moves_earlier_does_not_hide_others() -> None:
    # The bucket's max-heap must notice that its top entry's endsAt changed.
    inhibitor = Inhibitor([rule('s="1"', 't="1"')])
    a = alert({"s": "1", "n": "a"}, NOW + 5 * MIN)
    b = alert({"s": "1", "n": "b"}, NOW + 3 * MIN)
    inhibitor.observe(a)
    inhibitor.observe(b)
    assert inhibitor.inhibited_by({"t": "1"}, NOW) == [a.fingerprint]
    inhibitor.observe(alert({"s": "1", "n": "a"}, NOW - MIN))  # a resolves
    assert inhibitor.inhibited_by({"t": "1"}, NOW) == [b.fingerprint]
    inhibitor.observe(alert({"s": "1", "n": "a"}, None))  # and fires again
    assert inhibitor.inhibited_by({"t": "1"}, NOW + 4 * MIN) == [a.fingerprint]
    for _ in range(100):  # many updates: the heap is compacted, answers unchanged
        inhibitor.observe(alert({"s": "1", "n": "a"}, NOW - MIN))
        inhibitor.observe(alert({"s": "1", "n": "a"}, NOW + 10 * MIN))
    assert inhibitor.inhibited_by({"t": "1"}, NOW + 4 * MIN) == [a.fingerprint]
    assert inhibitor.inhibited_by({"t": "1"}, NOW + 11 * MIN) == []
