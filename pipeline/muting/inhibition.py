"""Alertmanager inhibition (inhibit/inhibit.go of v0.25.0), deterministic and serializable.

Rules, from the source:

- Every alert the Alertmanager receives that matches a rule's source matchers is stored in that
  rule's source cache, keyed by fingerprint, the newest version replacing the older one --
  whether it is firing or resolved, silenced or not, routed or not.
- ``Mutes(target)``: the rules are tried in configuration order; a rule applies when the target
  matches its target matchers.  It then looks for a cached source that is not resolved *now*
  (``endsAt`` set and not after now = resolved) and whose values for every ``equal`` label equal
  the target's (a missing label counts as ""; ``equal: []`` makes every source qualify).  If the
  target also matches the rule's *source* matchers, sources that also match the *target*
  matchers are skipped, so an alert matching both sides never inhibits itself (nor its like).
  The first rule with such a source mutes the target; its ``inhibitedBy`` is that one source's
  fingerprint.
- Resolved sources stop inhibiting at once; they are garbage-collected every 15 minutes.  A
  reload starts with empty caches refilled from the alerts still held.

Alertmanager's own lookup scans each rule's whole cache (issues #3932, #4606: inhibition cost
grows with rules x sources).  Here every rule indexes its sources by the tuple of their ``equal``
label values, and inside one such bucket keeps a max-heap on ``endsAt``, split by whether the
source also matches the rule's target matchers: the candidate with the latest ``endsAt`` is
unresolved if any is.  A lookup is therefore O(rules) (amortised O(log n) heap upkeep), not
O(sources).

Which fingerprint is reported: Alertmanager returns whichever qualifying source its map
iteration meets first (random).  We report, for the first rule that inhibits, the qualifying
source with the latest ``endsAt`` (open-ended counts as latest), ties by smallest fingerprint,
so the answer depends only on the state, never on arrival order.

State: the sources are the whole state (a source's labels never change -- they define its
fingerprint -- so which rules it belongs to follows from the rules).  ``to_state()`` is plain
JSON-able data sorted by fingerprint; ``from_state(rules, state)`` rebuilds every index, also
for changed rules.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.matchers import Matcher, MatcherError, Matchers, MatchType, go_quote, parse_matchers
from pipeline.models import Alert

__all__ = ["InhibitRule", "InhibitRuleError", "Inhibitor", "STATE_VERSION"]

STATE_VERSION = 1
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_OPEN_ENDED = 2**63  # sorts after every real endsAt
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class InhibitRuleError(ValueError):
    """An inhibit rule in the configuration is invalid."""


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source_matchers: Matchers
    target_matchers: Matchers
    # Alertmanager keeps these in a set; order and duplicates do not matter.
    equal: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> InhibitRule:
        """One ``inhibit_rules`` entry: ``source_match`` (equality), ``source_match_re``
        (anchored regex), ``source_matchers`` (matcher strings), the same three for the
        target, and ``equal``.  All three forms are AND-ed (config.go / NewInhibitRule)."""
        known = {
            "source_match",
            "source_match_re",
            "source_matchers",
            "target_match",
            "target_match_re",
            "target_matchers",
            "equal",
        }
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise InhibitRuleError(f"field {unknown[0]} not found in inhibit rule")
        try:
            source = _side(data, "source")
            target = _side(data, "target")
        except MatcherError as exc:
            raise InhibitRuleError(str(exc)) from None
        equal = data.get("equal") or []
        if isinstance(equal, (str, bytes)) or not isinstance(equal, Sequence):
            raise InhibitRuleError(f"equal must be a list of label names, got {equal!r}")
        for name in equal:
            if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
                raise InhibitRuleError(f"{go_quote(str(name))} is not a valid label name")
        return cls(source, target, tuple(equal))


def _side(data: Mapping[str, Any], side: str) -> Matchers:
    out: list[Matcher] = []
    for key, kind in ((f"{side}_match", MatchType.EQUAL), (f"{side}_match_re", MatchType.REGEX)):
        pairs = data.get(key) or {}
        if not isinstance(pairs, Mapping):
            raise InhibitRuleError(f"{key} must be a mapping of label name to value")
        for name, value in pairs.items():
            if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
                raise InhibitRuleError(f"invalid label name {go_quote(str(name))}")
            if not isinstance(value, str):
                raise InhibitRuleError(f"{key}.{name} must be a string, got {value!r}")
            out.append(Matcher(name, kind, value))
    lines = data.get(f"{side}_matchers") or []
    if isinstance(lines, (str, bytes)) or not isinstance(lines, Sequence):
        raise InhibitRuleError(f"{side}_matchers must be a list of strings")
    parsed: list[Matcher] = []
    for line in lines:
        if not isinstance(line, str):
            raise InhibitRuleError(f"{side}_matchers entries must be strings, got {line!r}")
        parsed.extend(parse_matchers(line))
    parsed.sort(key=Matcher.sort_key)  # config.go sorts the new-style matchers
    return Matchers(out + parsed)


# --- source cache -----------------------------------------------------------------------------


def _end_key(ends_at: datetime | None) -> int:
    """Exact sort key for endsAt (microseconds since the epoch); open-ended sorts last."""
    return _OPEN_ENDED if ends_at is None else (ends_at - _EPOCH) // timedelta(microseconds=1)


@dataclass(slots=True)
class _Source:
    fingerprint: str
    labels: dict[str, str]
    ends_at: datetime | None  # None: no end (not resolved)

    def resolved_at(self, now: datetime) -> bool:
        # prometheus/common model.Alert.ResolvedAt: endsAt set and not after now.
        return self.ends_at is not None and self.ends_at <= now


@dataclass(slots=True)
class _Heap:
    """Sources of one bucket, with lazy max-heap on endsAt (ties: smallest fingerprint)."""

    members: dict[str, _Source] = field(default_factory=dict)
    heap: list[tuple[int, str]] = field(default_factory=list)  # (-end_key, fingerprint)

    def put(self, source: _Source) -> None:
        old = self.members.get(source.fingerprint)
        self.members[source.fingerprint] = source
        if old is None or _end_key(old.ends_at) != _end_key(source.ends_at):
            heapq.heappush(self.heap, (-_end_key(source.ends_at), source.fingerprint))
            if len(self.heap) > 2 * len(self.members) + 16:
                self._rebuild()

    def discard(self, fingerprint: str) -> None:
        if self.members.pop(fingerprint, None) is not None:
            if len(self.heap) > 2 * len(self.members) + 16:
                self._rebuild()

    def _rebuild(self) -> None:
        self.heap = [(-_end_key(s.ends_at), fp) for fp, s in self.members.items()]
        heapq.heapify(self.heap)

    def best(self) -> _Source | None:
        """The member with the latest endsAt (smallest fingerprint among equals)."""
        heap, members = self.heap, self.members
        while heap:
            neg_key, fp = heap[0]
            source = members.get(fp)
            if source is not None and -_end_key(source.ends_at) == neg_key:
                return source
            heapq.heappop(heap)  # stale: removed, or its endsAt changed since
        return None


@dataclass(slots=True)
class _Bucket:
    one_sided: _Heap = field(default_factory=_Heap)  # sources not matching the target matchers
    two_sided: _Heap = field(default_factory=_Heap)  # sources matching the target matchers too

    def empty(self) -> bool:
        return not self.one_sided.members and not self.two_sided.members


class _RuleCache:
    __slots__ = ("rule", "equal", "buckets")

    def __init__(self, rule: InhibitRule) -> None:
        self.rule = rule
        self.equal = tuple(sorted(set(rule.equal)))
        self.buckets: dict[tuple[str, ...], _Bucket] = {}

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)

    def put(self, source: _Source) -> None:
        bucket = self.buckets.setdefault(self.key(source.labels), _Bucket())
        if self.rule.target_matchers.matches(source.labels):
            bucket.two_sided.put(source)
        else:
            bucket.one_sided.put(source)

    def discard(self, source: _Source) -> None:
        key = self.key(source.labels)
        bucket = self.buckets.get(key)
        if bucket is None:
            return
        bucket.one_sided.discard(source.fingerprint)
        bucket.two_sided.discard(source.fingerprint)
        if bucket.empty():
            del self.buckets[key]

    def inhibitor(self, labels: Mapping[str, str], now: datetime) -> _Source | None:
        """The reported inhibiting source for a target already known to match the target
        matchers, or None."""
        bucket = self.buckets.get(self.key(labels))
        if bucket is None:
            return None
        candidates = [bucket.one_sided.best()]
        if not self.rule.source_matchers.matches(labels):
            candidates.append(bucket.two_sided.best())
        best: _Source | None = None
        for c in candidates:
            if c is None or c.resolved_at(now):
                continue
            if best is None or (-_end_key(c.ends_at), c.fingerprint) < (
                -_end_key(best.ends_at),
                best.fingerprint,
            ):
                best = c
        return best

    def all_inhibitors(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        bucket = self.buckets.get(self.key(labels))
        if bucket is None:
            return []
        heaps = [bucket.one_sided]
        if not self.rule.source_matchers.matches(labels):
            heaps.append(bucket.two_sided)
        return [fp for h in heaps for fp, s in h.members.items() if not s.resolved_at(now)]


class Inhibitor:
    """The inhibition state of one Alertmanager: rules plus their source caches."""

    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self.rules: tuple[InhibitRule, ...] = tuple(rules)
        self._caches = [_RuleCache(rule) for rule in self.rules]
        self._sources: dict[str, _Source] = {}  # every stored source, by fingerprint
        self.version = 0

    # -- updates
    def observe(self, alert: Alert) -> bool:
        """Feed one received alert (firing or resolved).  Returns whether it is a source of
        any rule (and so was stored)."""
        return self._put(alert.fingerprint, alert.labels, alert.ends_at)

    def observe_fields(self, fingerprint: str, labels: Mapping[str, str], ends_at: datetime | None) -> bool:
        """``observe`` from an alert's fields, for callers that read them without building an Alert."""
        return self._put(fingerprint, labels, ends_at)

    def concerns(self, fingerprint: str, labels: Mapping[str, str]) -> bool:
        """Could observing this alert change anything: is it a stored source, or would it be one?
        Lets a caller skip decoding the many alerts that are no rule's source."""
        if fingerprint in self._sources:
            return True
        return any(cache.rule.source_matchers.matches(labels) for cache in self._caches)

    def _put(self, fingerprint: str, labels: Mapping[str, str], ends_at: datetime | None) -> bool:
        old = self._sources.get(fingerprint)
        if old is not None:
            if old.ends_at == ends_at:
                return True
            source = _Source(fingerprint, old.labels, ends_at)
            self._sources[fingerprint] = source
            for cache in self._caches:
                if cache.rule.source_matchers.matches(source.labels):
                    cache.put(source)
            self.version += 1
            return True
        source = _Source(fingerprint, dict(labels), ends_at)
        stored = False
        for cache in self._caches:
            if cache.rule.source_matchers.matches(source.labels):
                cache.put(source)
                stored = True
        if stored:
            self._sources[fingerprint] = source
            self.version += 1
        return stored

    def gc(self, now: datetime, grace: timedelta = timedelta(0)) -> list[str]:
        """Drop sources resolved at ``now - grace`` (Alertmanager: every 15 min, no grace).
        Invisible to lookups: a resolved source never inhibits.  Returns the dropped
        fingerprints, sorted."""
        gone = sorted(
            fp
            for fp, s in self._sources.items()
            if s.ends_at is not None and s.ends_at + grace <= now
        )
        for fp in gone:
            source = self._sources.pop(fp)
            for cache in self._caches:
                cache.discard(source)
        if gone:
            self.version += 1
        return gone

    # -- queries
    def inhibited_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """``[fingerprint]`` of the source muting an alert with ``labels`` at ``now``, or []."""
        for cache in self._caches:
            if not cache.rule.target_matchers.matches(labels):
                continue
            source = cache.inhibitor(labels, now)
            if source is not None:
                return [source.fingerprint]
        return []

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return bool(self.inhibited_by(labels, now))

    def inhibiting_sources(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """Every source that would mute ``labels`` under any rule (sorted, unique).  For
        diagnostics: O(sources in the matching buckets)."""
        found: set[str] = set()
        for cache in self._caches:
            if cache.rule.target_matchers.matches(labels):
                found.update(cache.all_inhibitors(labels, now))
        return sorted(found)

    def __len__(self) -> int:
        return len(self._sources)

    # -- state
    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "sources": [
                {
                    "fingerprint": fp,
                    "labels": dict(sorted(s.labels.items())),
                    "ends_at": None if s.ends_at is None else _format_time(s.ends_at),
                }
                for fp, s in sorted(self._sources.items())
            ],
        }

    @classmethod
    def from_state(cls, rules: Iterable[InhibitRule], state: Mapping[str, Any]) -> Inhibitor:
        """Rebuild from ``to_state()`` output.  Sources that match no rule's source matchers
        (after a configuration change) are dropped."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported inhibitor state version {state.get('version')!r}")
        inhibitor = cls(rules)
        for item in state.get("sources", []):
            ends_at = item.get("ends_at")
            inhibitor._put(
                item["fingerprint"],
                item["labels"],
                None if ends_at is None else _parse_time(ends_at),
            )
        inhibitor.version = 0
        return inhibitor


def _format_time(t: datetime) -> str:
    # RFC 3339 UTC with microseconds, the project's wire format.
    return t.astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"naive time in inhibitor state: {text!r}")
    return t.astimezone(_UTC)
