"""`pipeline whatif`: both replays of the recorded window, their difference in words or JSON, the exit code.

Exit codes (:func:`exit_code`): 0 the replay ran (whatever the difference); 2 an error (the candidate or
current configuration does not load, a bad window, the broker); 3 ``--fail-on-lost-page P`` was given
and a page of priority P would be lost under the candidate (see pipeline.whatif.diff for what a page is).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.durations import format_duration
from pipeline.whatif.diff import Change, Page, WhatifDiff, diff
from pipeline.whatif.recorded import ReadReport
from pipeline.whatif.replay import MutedAlert, ReplayOptions, ReplayOutcome, Sent, Setup, Timeline, replay

EXIT_OK, EXIT_ERROR, EXIT_LOST_PAGE = 0, 2, 3
MAX_FINGERPRINTS_SHOWN = 10


@dataclass
class WhatifReport:
    current: ReplayOutcome
    candidate: ReplayOutcome
    diff: WhatifDiff
    counted_from: datetime
    end: datetime
    read: ReadReport | None = None
    max_examples: int = 3

    # -- the exit code --------------------------------------------------------------------------------
    def lost(self, priorities: Iterable[str]) -> list[Page]:
        wanted = set(priorities)
        return [p for p in self.diff.pages_lost if p.priority in wanted]

    def exit_code(self, fail_on_lost_page: Iterable[str] = ()) -> int:
        return EXIT_LOST_PAGE if self.lost(fail_on_lost_page) else EXIT_OK

    @property
    def capped(self) -> list[str]:
        out = list(self.read.capped) if self.read else []
        for outcome in (self.current, self.candidate):
            if outcome.capped:
                out.append(f"{outcome.setup.name} replay: notifications (stopped at {_t(outcome.stopped_at)})")
        return out

    # -- JSON -------------------------------------------------------------------------------------------
    def to_json(self, fail_on_lost_page: Iterable[str] = ()) -> dict:
        d, n = self.diff, self.max_examples
        receivers = [r for r in d.receivers.values()]
        window: dict = {"from": _t(self.counted_from), "to": _t(self.end)}
        if self.read is not None:
            r = self.read
            window.update({"topic": r.topic, "replayedFrom": _t(r.start), "alertRecords": r.alert_records,
                           "silenceRecords": r.silence_records, "clippedByRetention": r.clipped_by_retention})
            if r.unreadable:
                window.update({"unreadable": r.unreadable, "problems": r.problems})
        window["capped"] = bool(self.capped)
        if self.capped:
            window["cappedBy"] = self.capped
        fail_on = sorted(set(fail_on_lost_page))
        return {
            "window": window,
            "current": _outcome_json(self.current, self.counted_from),
            "candidate": _outcome_json(self.candidate, self.counted_from),
            "notifications": {
                "added": sum(len(r.added) for r in receivers),
                "removed": sum(len(r.removed) for r in receivers),
                "changed": sum(len(r.changed) for r in receivers),
                "unchanged": sum(r.unchanged for r in receivers),
                "receivers": [{
                    "receiver": r.receiver, "current": r.current, "candidate": r.candidate,
                    "added": len(r.added), "removed": len(r.removed), "changed": len(r.changed),
                    "unchanged": r.unchanged,
                    "examples": {"added": [_sent_json(s) for s in r.added[:n]],
                                 "removed": [_sent_json(s) for s in r.removed[:n]],
                                 "changed": [_change_json(c) for c in r.changed[:n]]},
                } for r in receivers if r.differs],
            },
            "silenced": _muted_json(d.newly_silenced, d.no_longer_silenced, n),
            "inhibited": _muted_json(d.newly_inhibited, d.no_longer_inhibited, n),
            "pages": {
                "lost": dict(sorted(Counter(p.priority for p in d.pages_lost).items())),
                "gained": dict(sorted(Counter(p.priority for p in d.pages_gained).items())),
                "examples": {"lost": [_page_json(p) for p in d.pages_lost[:n]],
                             "gained": [_page_json(p) for p in d.pages_gained[:n]]},
            },
            "failOnLostPage": {"priorities": fail_on, "lost": len(self.lost(fail_on)),
                               "exitCode": self.exit_code(fail_on)},
        }

    # -- words ------------------------------------------------------------------------------------------
    def words(self, fail_on_lost_page: Iterable[str] = ()) -> str:
        d, n = self.diff, self.max_examples
        lines = [f"what-if: {self.candidate.setup.source or 'candidate'} instead of "
                 f"{self.current.setup.source or 'the current configuration'}"]
        span = format_duration(self.end - self.counted_from)
        if self.read is not None:
            r = self.read
            lines.append(f"window: {r.topic} {_t(self.counted_from)} → {_t(self.end)} ({span}), "
                         f"{_count(r.alert_records, 'alert record')}, {_count(r.silence_records, 'silence record')}"
                         + (f", replayed from {_t(r.start)} (warm-up)" if r.start < self.counted_from else ""))
            if r.clipped_by_retention:
                lines.append(f"  the window starts at {_t(r.start)}: {r.topic} keeps nothing older")
            if r.unreadable:
                lines.append(f"  {r.unreadable} records could not be decoded (normalize dead-letters them): "
                             + "; ".join(r.problems))
        else:
            lines.append(f"window: {_t(self.counted_from)} → {_t(self.end)} ({span})")
        for cap in self.capped:
            lines.append(f"  CAPPED: {cap}: the replay saw only part of the window; raise the whatif.* bound "
                         f"or narrow the window")
        receivers = list(d.receivers.values())
        added, removed = sum(len(r.added) for r in receivers), sum(len(r.removed) for r in receivers)
        changed, unchanged = sum(len(r.changed) for r in receivers), sum(r.unchanged for r in receivers)
        lines.append(f"notifications: {sum(r.current for r in receivers)} under the current configuration, "
                     f"{sum(r.candidate for r in receivers)} under the candidate: {added} added, {removed} "
                     f"removed, {changed} changed, {unchanged} unchanged")
        for r in receivers:
            if not r.differs:
                continue
            lines.append(f"  receiver {r.receiver!r}: {r.current} → {r.candidate}: +{len(r.added)} "
                         f"-{len(r.removed)} ~{len(r.changed)}")
            lines.extend(f"    + {_sent_words(s)}" for s in r.added[:n])
            lines.extend(f"    - {_sent_words(s)}" for s in r.removed[:n])
            lines.extend(f"    ~ {_change_words(c)}" for c in r.changed[:n])
        for title, items in (("newly silenced", d.newly_silenced), ("no longer silenced", d.no_longer_silenced),
                             ("newly inhibited", d.newly_inhibited), ("no longer inhibited", d.no_longer_inhibited)):
            if items:
                lines.append(f"alerts {title}: {len(items)}")
                lines.extend(f"    {_labels(m.labels)} from {_t(m.first_at)}" for m in items[:n])
        for title, pages in (("lost", d.pages_lost), ("gained", d.pages_gained)):
            if pages:
                counts = Counter(p.priority or "no priority" for p in pages)
                lines.append(f"pages {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
                lines.extend(f"    {p.priority or '-'} {p.alertname} ({p.fingerprint}) to {p.receiver!r} at {_t(p.at)}"
                             for p in pages[:n])
        if d.empty:
            lines.append("no difference")
        fail_on = sorted(set(fail_on_lost_page))
        if fail_on:
            lost = self.lost(fail_on)
            lines.append(f"fail on lost page {', '.join(fail_on)}: "
                         + (f"{len(lost)} would be lost (exit {EXIT_LOST_PAGE})" if lost else "none lost"))
        return "\n".join(lines) + "\n"


def compare(timeline: Timeline, current: Setup, candidate: Setup, topology, *, counted_from: datetime,
            options: ReplayOptions = ReplayOptions(), read: ReadReport | None = None,
            max_examples: int = 3) -> WhatifReport:
    """Replay ``timeline`` under both setups and compare them."""
    before = replay(timeline, current, topology, options)
    after = replay(timeline, candidate, topology, options)
    return WhatifReport(before, after, diff(before, after, counted_from), counted_from, timeline.end, read,
                        max_examples)


# -- pieces ----------------------------------------------------------------------------------------------
def _t(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _labels(labels) -> str:
    items = labels.items() if hasattr(labels, "items") else labels
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(items)) + "}"


def _outcome_json(outcome: ReplayOutcome, counted_from: datetime) -> dict:
    return {"config": outcome.setup.source, "notifications": sum(1 for s in outcome.sent if s.at >= counted_from),
            "alertRecords": outcome.alert_records, "deadLetters": outcome.dead_letters, "capped": outcome.capped}


def _sent_json(sent: Sent) -> dict:
    fingerprints = sorted(sent.alerts)
    return {"receiver": sent.receiver, "groupKey": sent.group_key, "groupLabels": dict(sent.group_labels),
            "status": sent.status, "at": _t(sent.at), "alerts": len(sent.alerts),
            "firing": sum(1 for _, s in sent.alerts if s == "firing"),
            "fingerprints": [f"{fp}:{status}" for fp, status in fingerprints[:MAX_FINGERPRINTS_SHOWN]],
            "integrations": list(sent.integrations)}


def _change_json(change: Change) -> dict:
    out = {"what": list(change.what), "before": _sent_json(change.before), "after": _sent_json(change.after)}
    if "alerts" in change.what:
        out["alertsAdded"] = [f"{fp}:{s}" for fp, s in sorted(change.after.alerts - change.before.alerts)]
        out["alertsRemoved"] = [f"{fp}:{s}" for fp, s in sorted(change.before.alerts - change.after.alerts)]
    return out


def _muted_json(new: list[MutedAlert], gone: list[MutedAlert], n: int) -> dict:
    def one(m: MutedAlert) -> dict:
        return {"labels": m.labels, "firstAt": _t(m.first_at), **({"silencedBy": m.silences} if m.silences else {})}

    return {"new": len(new), "noLonger": len(gone),
            "examples": {"new": [one(m) for m in new[:n]], "noLonger": [one(m) for m in gone[:n]]}}


def _page_json(page: Page) -> dict:
    return {"priority": page.priority, "receiver": page.receiver, "alertname": page.alertname,
            "fingerprint": page.fingerprint, "startsAt": _t(page.starts_at), "at": _t(page.at)}


def _sent_words(sent: Sent) -> str:
    return (f"{_t(sent.at)} {_labels(sent.group_labels)} {sent.status}, {len(sent.alerts)} alert"
            f"{'s' if len(sent.alerts) != 1 else ''} [{sent.group_key}]")


def _change_words(change: Change) -> str:
    a, b = change.before, change.after
    parts = []
    if "time" in change.what:
        shift = b.at - a.at
        parts.append(f"sent {format_duration(abs(shift))} {'later' if shift > timedelta(0) else 'earlier'}")
    if "alerts" in change.what:
        plus, minus = len(b.alerts - a.alerts), len(a.alerts - b.alerts)
        parts.append(f"alerts +{plus} -{minus}" + (f", {a.status} → {b.status}" if a.status != b.status else ""))
    return f"{_t(a.at)} {_labels(a.group_labels)} [{a.group_key}]: " + "; ".join(parts)
