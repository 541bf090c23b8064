"""The difference between two replays of one timeline: the current configuration's and the candidate's. Pure.

**Notifications.** A notification is one flush of an aggregation group to a receiver
(:class:`pipeline.whatif.replay.Sent`). Two notifications say *the same thing* when their receiver,
group key, status and the set of (fingerprint, status) of their alerts are equal. Within each
(receiver, group key), the two replays' notifications are paired:

1. the k-th notification of the current replay saying a given thing is paired with the k-th of the
   candidate saying the same thing: **unchanged** when both were sent at the same (simulated) instant,
   **changed** (``time``) otherwise — e.g. a longer group_wait sends the same alerts later;
2. the notifications left over on both sides are paired in time order: **changed** (``alerts``, and
   ``time`` when the instants differ too) — the same group told a different set of alerts or statuses,
   e.g. an alert newly inhibited leaves a group's notification;
3. what is left after that is **removed** (sent under the current configuration only) or **added**
   (under the candidate only).

A notification's integrations are not part of what it says: a receiver with two webhooks gets one
notification here. A group key names its route (its matchers path) and its group labels, so a route
whose group_by changes, or a new route, sends under other group keys: its notifications are removed
under the old keys and added under the new ones, never "changed".

**Muting.** An alert (by its label set, as classified) is silenced (inhibited) in a replay when the
mute stage or a flush found it silenced (inhibited) at least once. *Newly* silenced: silenced under the
candidate and never under the current configuration; *no longer*: the reverse.

**Pages.** A page is an alert's firing episode (fingerprint and startsAt) notified as firing to a
receiver, at least once; its priority is the alert's priority label from the classification rules
(the file's ``classification.labels.priority``; empty when the rules write none). *Lost*: paged under
the current configuration, not under the candidate (to that receiver); *gained*: the reverse. A page
moved to another receiver is one lost and one gained.

Only what happened at or after ``counted_from`` counts (the window's start; earlier records are warm-up).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.whatif.replay import MutedAlert, ReplayOutcome, Sent

UNCHANGED, CHANGED, ADDED, REMOVED = "unchanged", "changed", "added", "removed"


@dataclass(frozen=True)
class Change:
    before: Sent
    after: Sent
    what: tuple[str, ...]   # "time", "alerts"


@dataclass
class ReceiverDiff:
    receiver: str
    unchanged: int = 0
    changed: list[Change] = field(default_factory=list)
    added: list[Sent] = field(default_factory=list)
    removed: list[Sent] = field(default_factory=list)
    current: int = 0      # notifications under each configuration
    candidate: int = 0

    @property
    def differs(self) -> bool:
        return bool(self.changed or self.added or self.removed)


@dataclass(frozen=True)
class Page:
    receiver: str
    fingerprint: str
    starts_at: datetime
    priority: str
    alertname: str
    at: datetime          # its first notification


@dataclass
class WhatifDiff:
    receivers: dict[str, ReceiverDiff]
    newly_silenced: list[MutedAlert]
    no_longer_silenced: list[MutedAlert]
    newly_inhibited: list[MutedAlert]
    no_longer_inhibited: list[MutedAlert]
    pages_lost: list[Page]
    pages_gained: list[Page]

    def lost_pages(self, priority: str) -> list[Page]:
        return [p for p in self.pages_lost if p.priority == priority]

    @property
    def empty(self) -> bool:
        return not (any(r.differs for r in self.receivers.values()) or self.newly_silenced
                    or self.no_longer_silenced or self.newly_inhibited or self.no_longer_inhibited
                    or self.pages_lost or self.pages_gained)


def pair(current: list[Sent], candidate: list[Sent]) -> tuple[int, list[Change], list[Sent], list[Sent]]:
    """The notifications of one (receiver, group key) under both configurations, paired as the module
    docstring says: (unchanged count, changes, removed, added)."""
    by_content_current: dict[tuple, list[Sent]] = defaultdict(list)
    by_content_candidate: dict[tuple, list[Sent]] = defaultdict(list)
    for sent in sorted(current, key=lambda s: s.at):
        by_content_current[sent.content].append(sent)
    for sent in sorted(candidate, key=lambda s: s.at):
        by_content_candidate[sent.content].append(sent)
    unchanged, changes = 0, []
    left_current: list[Sent] = []
    left_candidate: list[Sent] = []
    for content in by_content_current.keys() | by_content_candidate.keys():
        before, after = by_content_current.get(content, []), by_content_candidate.get(content, [])
        for a, b in zip(before, after):
            if a.at == b.at:
                unchanged += 1
            else:
                changes.append(Change(a, b, ("time",)))
        left_current.extend(before[len(after):])
        left_candidate.extend(after[len(before):])
    left_current.sort(key=lambda s: s.at)
    left_candidate.sort(key=lambda s: s.at)
    for a, b in zip(left_current, left_candidate):
        changes.append(Change(a, b, ("alerts", "time") if a.at != b.at else ("alerts",)))
    changes.sort(key=lambda c: c.before.at)
    return (unchanged, changes, left_current[len(left_candidate):], left_candidate[len(left_current):])


def diff(current: ReplayOutcome, candidate: ReplayOutcome, counted_from: datetime) -> WhatifDiff:
    def counted(outcome: ReplayOutcome) -> dict[tuple[str, str], list[Sent]]:
        out: dict[tuple[str, str], list[Sent]] = defaultdict(list)
        for sent in outcome.sent:
            if sent.at >= counted_from:
                out[(sent.receiver, sent.group_key)].append(sent)
        return out

    before, after = counted(current), counted(candidate)
    receivers: dict[str, ReceiverDiff] = {}
    for key in sorted(before.keys() | after.keys()):
        receiver = receivers.setdefault(key[0], ReceiverDiff(key[0]))
        unchanged, changes, removed, added = pair(before.get(key, []), after.get(key, []))
        receiver.unchanged += unchanged
        receiver.changed.extend(changes)
        receiver.removed.extend(removed)
        receiver.added.extend(added)
        receiver.current += len(before.get(key, []))
        receiver.candidate += len(after.get(key, []))
    for r in receivers.values():
        r.changed.sort(key=lambda c: c.before.at)
        r.added.sort(key=lambda s: s.at)
        r.removed.sort(key=lambda s: s.at)

    def muted(outcome: ReplayOutcome, kind: str) -> dict:
        return {k: v for k, v in outcome.muted.alerts.items() if getattr(v, kind) and v.last_at >= counted_from}

    def only(a: dict, b: dict) -> list[MutedAlert]:
        return sorted((a[k] for k in a.keys() - b.keys()), key=lambda m: (m.first_at, sorted(m.labels.items())))

    silenced = muted(current, "silenced"), muted(candidate, "silenced")
    inhibited = muted(current, "inhibited"), muted(candidate, "inhibited")
    pages_before, pages_after = _pages(before), _pages(after)
    return WhatifDiff(
        receivers=receivers,
        newly_silenced=only(silenced[1], silenced[0]), no_longer_silenced=only(silenced[0], silenced[1]),
        newly_inhibited=only(inhibited[1], inhibited[0]), no_longer_inhibited=only(inhibited[0], inhibited[1]),
        pages_lost=_sorted(pages_before[k] for k in pages_before.keys() - pages_after.keys()),
        pages_gained=_sorted(pages_after[k] for k in pages_after.keys() - pages_before.keys()),
    )


def _pages(sent: dict[tuple[str, str], list[Sent]]) -> dict[tuple[str, str, datetime], Page]:
    pages: dict[tuple[str, str, datetime], Page] = {}
    for notifications in sent.values():
        for n in notifications:
            for fingerprint, starts_at, priority, alertname in n.firing:
                key = (n.receiver, fingerprint, starts_at)
                known = pages.get(key)
                if known is None or n.at < known.at:
                    pages[key] = Page(n.receiver, fingerprint, starts_at, priority, alertname, n.at)
    return pages


def _sorted(pages) -> list[Page]:
    return sorted(pages, key=lambda p: (p.priority or "~", p.at, p.receiver, p.fingerprint))
