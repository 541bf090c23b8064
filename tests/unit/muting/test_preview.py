"""pipeline.muting.preview: the guard's rules and what a silence would have done to recorded notifications."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.matchers import parse_matchers
from pipeline.models import Alert, Notification
from pipeline.muting.preview import (
    EQUALITY_RULE,
    SHARE_RULE,
    GuardRules,
    WouldHaveMuted,
    guard_silence,
    has_equality_matcher,
    is_forced,
    matches_now,
)

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def alert(**labels: str) -> Alert:
    return Alert.with_fingerprint(labels=labels, starts_at=T0, status="firing", updated_at=T0)


def notification(receiver: str, alerts: list[Alert], *, seq: int = 1, group: str = "g", integration: str = "webhook/0",
                 truncated: int = 0, minutes: int = 0, status: str = "firing") -> Notification:
    return Notification(id=f"{receiver}-{group}-{seq}-{integration}", receiver=receiver, status=status,
                        group_key=group, group_labels={"alertname": alerts[0].labels["alertname"]},
                        alerts=alerts, flush_seq=seq, created_at=T0 + timedelta(minutes=minutes),
                        integration=integration, truncated_alerts=truncated)


RULES = GuardRules(require_equality_matcher=False, max_active_percent=50.0, min_matched_alerts=10)


@pytest.mark.parametrize("matched, active, allowed", [
    (10, 19, False),  # 52.6% and 10 alerts: refused
    (10, 20, True),   # exactly 50% is not more than 50%
    (9, 9, True),     # 100%, but fewer than min_matched_alerts
    (0, 0, True),
])
def test_share_rule(matched, active, allowed):
    verdict = guard_silence(parse_matchers('team="db"'), matched=matched, active=active, forced=False, rules=RULES)
    assert verdict.allowed is allowed
    assert verdict.rule == (None if allowed else SHARE_RULE)


def test_share_rule_reason_names_the_numbers_and_forcing_keeps_the_rule():
    refused = guard_silence(parse_matchers('team="db"'), matched=12, active=16, forced=False, rules=RULES)
    assert refused.reason == '{team="db"} matches 12 of 16 active alerts (75.0%), more than 50%'
    assert refused.refusal(RULES) == (
        "silence guard rule max_active_percent refuses this silence: " + refused.reason +
        "; add '[force]' to the comment (or pass force=true) to create it anyway")
    forced = guard_silence(parse_matchers('team="db"'), matched=12, active=16, forced=True, rules=RULES)
    assert forced.allowed and forced.forced and forced.rule == SHARE_RULE and forced.reason.endswith("(forced)")
    assert forced.to_json()["matchedPercent"] == 75.0


def test_equality_rule():
    rules = GuardRules(require_equality_matcher=True, max_active_percent=None)
    for text, needs_force in (('alertname=~".+"', True), ('team!="db"', True), ('team=""', True),
                              ('team="db",env=~"p.*"', False)):
        verdict = guard_silence(parse_matchers(text), matched=0, active=0, forced=False, rules=rules)
        assert verdict.allowed is not needs_force, text
        assert has_equality_matcher(parse_matchers(text)) is not needs_force
        if needs_force:
            assert verdict.rule == EQUALITY_RULE and "has no equality matcher" in verdict.reason


def test_off_rules_allow_everything():
    off = GuardRules(require_equality_matcher=False, max_active_percent=None)
    assert guard_silence(parse_matchers('a=~".*x"'), matched=1000, active=1000, forced=False, rules=off).allowed


def test_forced_by_flag_or_marker():
    assert is_forced("maintenance [force] window", False, RULES)
    assert is_forced("", True, RULES)
    assert not is_forced("maintenance [forced?]", False, RULES)  # the marker is "[force]" exactly
    assert not is_forced("force", False, RULES)


def test_matches_now_counts_all_and_lists_the_first_in_fingerprint_order():
    alerts = [alert(alertname="A", team="db", i=str(i)) for i in range(5)] + [alert(alertname="B", team="web")]
    found = matches_now(alerts, parse_matchers('team="db"'), max_shown=2, show=lambda a: a.fingerprint)
    assert (found.active, found.matched, found.capped) == (6, 5, True)
    assert found.shown == sorted(a.fingerprint for a in alerts[:5])[:2]
    # a missing label matches as the empty string, as in Alertmanager
    assert matches_now(alerts, parse_matchers('i=""'), max_shown=10).matched == 1


def test_would_have_muted_per_receiver():
    db1, db2, web = alert(alertname="A", team="db", i="1"), alert(alertname="A", team="db", i="2"), \
        alert(alertname="A", team="web")
    fold = WouldHaveMuted(parse_matchers('team="db"'), max_examples=1)
    for n in [
        notification("pager", [db1, db2], seq=1, minutes=5),                 # every alert muted: not sent
        notification("pager", [db1, db2], seq=1, minutes=5, integration="slack/0"),  # same flush, 2nd integration
        notification("pager", [db1, web], seq=2, minutes=10),                # one of two: fewer alerts
        notification("pager", [db1], seq=3, minutes=15, truncated=3),        # truncated: cannot be "not sent"
        notification("web", [web], seq=1, group="w"),                         # untouched receiver
        notification("mail", [db2], seq=1, group="m", status="resolved", minutes=1),  # resolved ones too
    ]:
        fold.add(n)
    document = fold.to_json()
    # Hand count: pager saw 3 flushes (the slack copy is the same flush): 1 not sent, 2 with fewer
    # alerts, muted alert occurrences 2 + 1 + 1 = 4; mail 1 not sent; web untouched and not listed.
    assert document["notificationsSeen"] == 5 and document["notificationsAffected"] == 4
    assert document["notSent"] == 2 and document["sentWithFewerAlerts"] == 2
    pager, mail = document["receivers"]
    assert (pager["receiver"], pager["notifications"], pager["notSent"], pager["sentWithFewerAlerts"],
            pager["alertsMuted"]) == ("pager", 3, 1, 2, 4)
    assert (mail["receiver"], mail["notSent"], mail["alertsMuted"]) == ("mail", 1, 1)
    assert pager["examples"] == [{
        "createdAt": "2026-11-24T10:05:00.000Z", "status": "firing", "groupLabels": {"alertname": "A"},
        "integration": "webhook/0", "alerts": 2, "mutedAlerts": 2, "effect": "not sent",
        "mutedLabels": [dict(db1.labels), dict(db2.labels)]}]
    assert mail["examples"][0]["status"] == "resolved"


def test_would_have_muted_bounds_receivers():
    fold = WouldHaveMuted(parse_matchers('team="db"'), max_examples=0, max_receivers=2)
    for name in ("a", "b", "c", "d"):
        fold.add(notification(name, [alert(alertname="A", team="db")], group=name))
    document = fold.to_json()
    assert [r["receiver"] for r in document["receivers"]] == ["a", "b"]
    assert document["receiversNotListed"] == 2 and all(r["examples"] == [] for r in document["receivers"])
