"""A silence before it exists: what it matches now, what it would have muted, and the guard.

Pure: the caller hands in the alerts (the API view's) and the recorded notifications
(:mod:`pipeline.notification_history`); matching is the silence's own
(:func:`pipeline.muting.silences.compile_matchers`, Alertmanager's matcher semantics: a missing label
matches as the empty string).

**Would have muted.** Each recorded notification is judged on its own, as if the silence had been active
when it was sent: Alertmanager's silencing stage drops the silenced alerts of a flush (firing and
resolved alike) and sends nothing when none is left. So a notification all of whose alerts match would
not have been sent, one with some matching alerts would have been sent without them. A notification
whose alert list was truncated (``truncated_alerts``) cannot be judged fully: at best it would have been
sent with fewer alerts. What the groups would have sent *afterwards* instead (other timings, other
contents) is the what-if replay's question, not this one.

**The guard** refuses a silence that would mute too much, unless forced. Two rules:

* ``equality_matcher`` (off by default): the silence needs at least one ``name="value"`` matcher with a
  non-empty value; ``alertname=~".+"`` alone, or only negative matchers, is refused.
* ``max_active_percent`` (on by default, 50%): refused when it matches more than that share of the
  active alerts *and* at least ``min_matched_alerts`` of them (10), so a small setup silencing its one
  alert is not refused.

Forced by the ``force`` flag of the request or by the marker (``[force]`` by default) in the silence's
comment, which is what ``amtool silence add --comment`` can carry and which stays on the silence as the
record that it was forced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.matchers import Matchers, MatchType
from pipeline.models import Alert, Notification

EQUALITY_RULE = "equality_matcher"
SHARE_RULE = "max_active_percent"


@dataclass(frozen=True)
class GuardRules:
    require_equality_matcher: bool = False
    max_active_percent: float | None = 50.0  # None: the rule is off
    min_matched_alerts: int = 10
    force_marker: str = "[force]"

    def to_json(self) -> dict[str, Any]:
        return {"requireEqualityMatcher": self.require_equality_matcher,
                "maxActivePercent": self.max_active_percent, "minMatchedAlerts": self.min_matched_alerts,
                "forceMarker": self.force_marker}


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    rule: str | None  # the rule that refuses it (or would have, when forced)
    reason: str
    forced: bool
    matched: int
    active: int

    @property
    def share_percent(self) -> float:
        return 100.0 * self.matched / self.active if self.active else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "rule": self.rule, "reason": self.reason, "forced": self.forced,
                "matchedAlerts": self.matched, "activeAlerts": self.active,
                "matchedPercent": round(self.share_percent, 2)}

    def refusal(self, rules: GuardRules) -> str:
        """The error text of a refused POST: names the rule and how to force it."""
        return (f"silence guard rule {self.rule} refuses this silence: {self.reason}; add "
                f"{rules.force_marker!r} to the comment (or pass force=true) to create it anyway")


def has_equality_matcher(matchers: Matchers) -> bool:
    return any(m.type is MatchType.EQUAL and m.value != "" for m in matchers)


def is_forced(comment: str, force_flag: bool, rules: GuardRules) -> bool:
    return force_flag or (bool(rules.force_marker) and rules.force_marker in comment)


def guard_silence(matchers: Matchers, *, matched: int, active: int, forced: bool, rules: GuardRules) -> GuardVerdict:
    """Whether the guard lets a silence with these matchers through, given how many of the ``active``
    alerts it matches."""
    rule, reason = None, ""
    if rules.require_equality_matcher and not has_equality_matcher(matchers):
        rule = EQUALITY_RULE
        reason = f"{matchers} has no equality matcher (name=\"value\" with a non-empty value)"
    elif rules.max_active_percent is not None and active and matched >= rules.min_matched_alerts \
            and 100.0 * matched / active > rules.max_active_percent:
        rule = SHARE_RULE
        reason = (f"{matchers} matches {matched} of {active} active alerts ({100.0 * matched / active:.1f}%), "
                  f"more than {rules.max_active_percent:g}%")
    if rule is None:
        return GuardVerdict(True, None, "no guard rule applies", forced, matched, active)
    if forced:
        return GuardVerdict(True, rule, reason + " (forced)", True, matched, active)
    return GuardVerdict(False, rule, reason, False, matched, active)


# --- matches now -------------------------------------------------------------------------------------

@dataclass
class MatchesNow:
    """Active alerts the silence matches, with the first few shown."""

    active: int = 0
    matched: int = 0
    shown: list[Any] = field(default_factory=list)  # what ``show`` made of each matched alert
    capped: bool = False


def matches_now(alerts: Iterable[Alert], matchers: Matchers, *, max_shown: int,
                show: Callable[[Alert], Any] = lambda alert: alert) -> MatchesNow:
    """Count the alerts and those the matchers match; keep ``show(alert)`` of the first ``max_shown``
    in fingerprint order."""
    result = MatchesNow()
    matched: list[Alert] = []
    for alert in alerts:
        result.active += 1
        if matchers.matches(alert.labels):
            result.matched += 1
            matched.append(alert)
    matched.sort(key=lambda a: a.fingerprint)
    result.shown = [show(alert) for alert in matched[:max_shown]]
    result.capped = result.matched > max_shown
    return result


# --- would have muted ------------------------------------------------------------------------------------

NOT_SENT = "not sent"
FEWER_ALERTS = "sent with fewer alerts"


@dataclass
class ReceiverEffect:
    receiver: str
    notifications: int = 0  # flushes to this receiver in the window
    not_sent: int = 0
    fewer_alerts: int = 0
    alerts_muted: int = 0  # muted alert occurrences over those notifications
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "notifications": self.notifications, "notSent": self.not_sent,
                "sentWithFewerAlerts": self.fewer_alerts, "alertsMuted": self.alerts_muted,
                "examples": self.examples}


class WouldHaveMuted:
    """Folds recorded notifications into per-receiver effects of a silence with ``matchers``.

    A receiver with several integrations gets one record per integration and flush; they count as one
    notification (receiver, group key, flush sequence). ``max_examples`` per receiver, ``max_receivers``
    in total (beyond that the others are counted, not listed), ``max_flushes`` flushes remembered for
    de-duplication (beyond it integrations of one flush may count twice; ``capped`` says so)."""

    def __init__(self, matchers: Matchers, *, max_examples: int, max_receivers: int = 1000,
                 max_flushes: int = 1_000_000, max_alerts_per_example: int = 5) -> None:
        self.matchers = matchers
        self.max_examples = max_examples
        self.max_receivers = max_receivers
        self.max_flushes = max_flushes
        self.max_alerts_per_example = max_alerts_per_example
        self.receivers: dict[str, ReceiverEffect] = {}
        self.other_receivers: set[str] = set()
        self.seen_flushes: set[tuple[str, str, int]] = set()
        self.capped = False
        self.notifications = 0
        self.affected = 0

    def add(self, notification: Notification) -> None:
        flush = (notification.receiver, notification.group_key, notification.flush_seq)
        if flush in self.seen_flushes:
            return
        if len(self.seen_flushes) < self.max_flushes:
            self.seen_flushes.add(flush)
        else:
            self.capped = True
        self.notifications += 1
        effect = self.receivers.get(notification.receiver)
        if effect is None:
            if len(self.receivers) >= self.max_receivers:
                if len(self.other_receivers) < self.max_receivers:
                    self.other_receivers.add(notification.receiver)
                return
            effect = self.receivers[notification.receiver] = ReceiverEffect(notification.receiver)
        effect.notifications += 1
        muted = [alert for alert in notification.alerts if self.matchers.matches(alert.labels)]
        if not muted:
            return
        self.affected += 1
        effect.alerts_muted += len(muted)
        whole = len(muted) == len(notification.alerts) and notification.truncated_alerts == 0
        if whole:
            effect.not_sent += 1
        else:
            effect.fewer_alerts += 1
        if len(effect.examples) < self.max_examples:
            effect.examples.append(_example(notification, muted, NOT_SENT if whole else FEWER_ALERTS,
                                            self.max_alerts_per_example))

    def receiver_effects(self) -> list[ReceiverEffect]:
        """Receivers whose notifications the silence touches, most affected first."""
        touched = [e for e in self.receivers.values() if e.not_sent or e.fewer_alerts]
        touched.sort(key=lambda e: (-(e.not_sent + e.fewer_alerts), e.receiver))
        for effect in touched:
            effect.examples.sort(key=lambda ex: ex["createdAt"])
        return touched

    def to_json(self) -> dict[str, Any]:
        effects = self.receiver_effects()
        return {
            "notificationsSeen": self.notifications,
            "notificationsAffected": self.affected,
            "notSent": sum(e.not_sent for e in effects),
            "sentWithFewerAlerts": sum(e.fewer_alerts for e in effects),
            "receivers": [e.to_json() for e in effects],
            **({"receiversNotListed": len(self.other_receivers)} if self.other_receivers else {}),
            **({"dedupCapped": True} if self.capped else {}),
        }


def _example(notification: Notification, muted: list[Alert], effect: str, max_alerts: int) -> dict[str, Any]:
    return {
        "createdAt": notification.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "status": notification.status,
        "groupLabels": dict(notification.group_labels),
        "integration": notification.integration,
        "alerts": len(notification.alerts) + notification.truncated_alerts,
        "mutedAlerts": len(muted),
        "effect": effect,
        "mutedLabels": [dict(alert.labels) for alert in muted[:max_alerts]],
    }


# --- the answer in words (``pipeline silence preview``) --------------------------------------------------

def _labels_text(labels: dict[str, str]) -> str:
    from pipeline.routing import label_set_string

    return label_set_string(labels)


def preview_words(answer: dict[str, Any]) -> str:
    """The preview endpoint's JSON answer as the text ``pipeline silence preview`` prints."""
    silence, guard, now = answer["silence"], answer["guard"], answer["matchesNow"]
    lines = [f"silence {silence['matchers']} from {silence['startsAt']} to {silence['endsAt']}"]
    if not guard["allowed"]:
        force = guard["rules"]["forceMarker"]
        lines.append(f"guard: REFUSED by rule {guard['rule']}: {guard['reason']} "
                     f"(add {force!r} to the comment, or --force, to create it anyway)")
    elif guard["rule"]:
        lines.append(f"guard: allowed, forced past rule {guard['rule']}: {guard['reason']}")
    else:
        lines.append("guard: allowed")
    lines.append(f"matches now: {now['matchedAlerts']} of {now['activeAlerts']} active alerts")
    for alert in now["alerts"]:
        receivers = ", ".join(r["name"] for r in alert["receivers"]) or "no receiver"
        state = alert["status"]["state"]
        lines.append(f"  {alert['fingerprint']} {_labels_text(alert['labels'])} {state} → {receivers}")
    if now["capped"]:
        lines.append(f"  … and {now['matchedAlerts'] - now['alertsListed']} more")
    history = answer["wouldHaveMuted"]
    if "error" in history:
        lines.append(f"would have muted over the last {silence['since']}: unknown, {history['error']}")
        return "\n".join(lines) + "\n"
    window = history["window"]
    lines.append(f"would have muted over the last {silence['since']} ({window['from']} to {window['to']}: "
                 f"{window['notifications']} notifications in {window['recordsScanned']} records of topic "
                 f"{window['topic']}):")
    if window.get("capped"):
        lines.append(f"  INCOMPLETE: reading stopped at its {window['cappedBy']} bound; older or later "
                     "notifications of the window were not read")
    if window.get("clippedByRetention"):
        lines.append(f"  the window starts at {window['from']}: {window['topic']} keeps nothing older")
    if window.get("unreadable"):
        lines.append(f"  {window['unreadable']} unreadable records skipped")
    if not history["receivers"]:
        lines.append("  nothing: no notification of the window has an alert it matches")
    for effect in history["receivers"]:
        lines.append(f"  {effect['receiver']}: {effect['notSent']} of {effect['notifications']} notifications "
                     f"not sent, {effect['sentWithFewerAlerts']} sent with fewer alerts "
                     f"({effect['alertsMuted']} alerts muted)")
        for example in effect["examples"]:
            lines.append(f"    {example['createdAt']} {example['status']} {_labels_text(example['groupLabels'])}: "
                         f"{example['effect']} ({example['mutedAlerts']} of {example['alerts']} alerts muted)")
    if history.get("receiversNotListed"):
        lines.append(f"  and {history['receiversNotListed']} more receivers not listed")
    return "\n".join(lines) + "\n"
