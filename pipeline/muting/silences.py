"""Alertmanager silences (silence/silence.go and api/v2/api.go of v0.25.0), as pure functions.

The silence store itself is a compacted topic (``pipeline.models.Silence`` records keyed by id);
this module decides what to write and answers "which silences mute these labels".

Rules, from the source (confirmed against a running Alertmanager 0.25.0 where noted):

- States (``getState``): pending while ``now < startsAt``; expired once ``now > endsAt``;
  active otherwise -- both ends inclusive, so a silence is still active at exactly ``endsAt``.
- POST /silences checks, in this order: ``startsAt < endsAt`` ("Failed to create silence: start
  time must be before end time"), ``endsAt`` not before now ("Failed to create silence: end time
  can't be in the past"); then an unknown id is 404 ("silence not found"); then the silence is
  updated in place or replaced (``canUpdate``), and only then validated ("silence invalid: ...").
- ``canUpdate(old, new)``: matchers identical (same order) and
  active old: same startsAt *to the second* (Go compares ``Unix()``) and new endsAt >= now;
  pending old: new startsAt >= now; expired old: never.  Otherwise the old silence is expired
  (unless already expired) and the posted one is stored under a new id with startsAt clamped to
  now.  Quirk kept: the old silence is expired *before* the replacement is validated, so a POST
  with an existing id and an invalid matcher answers 400 but has expired the old silence
  (checked on Alertmanager 0.25.0).  :class:`SilenceError` carries those writes in ``.writes``.
- Validation (``validateSilence``): at least one matcher; label names ``[a-zA-Z_][a-zA-Z0-9_]*``;
  ``=``/``!=`` values valid UTF-8; regexes compile (Go RE2, see pipeline.matchers); not every
  matcher may match the empty string -- where only ``=""`` and a regex matching ``""`` count:
  ``!=``/``!~`` matchers never count, so ``{a!="x"}`` alone is a valid silence that silences
  every alert without an ``a="x"`` label.  Empty ``createdBy``/``comment`` are accepted (the API
  only requires the fields to be present, which the wire model enforces).
- DELETE expires: an active silence gets ``endsAt = now``; a pending one ``startsAt = endsAt =
  now``; an expired one is left alone (no error).  An unknown id is 404.
- Retention: a silence is garbage once ``endsAt + retention <= now`` (default 120h,
  ``--data.retention``), whatever its state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal

from pipeline.matchers import (
    Matcher,
    MatcherError,
    Matchers,
    MatchType,
    go_quote,
)
from pipeline.models import Matcher as MatcherModel
from pipeline.models import Silence, replace
from pipeline.regex import RegexError, compile_regexp

__all__ = [
    "DEFAULT_RETENTION",
    "SilenceError",
    "SilenceNotFound",
    "SilenceState",
    "Silencer",
    "apply_post",
    "can_update",
    "check_post_times",
    "compile_matchers",
    "expire",
    "is_garbage",
    "prepare_new",
    "silence_state",
    "validate_silence",
    "validate_stored",
]

SilenceState = Literal["pending", "active", "expired"]
DEFAULT_RETENTION = timedelta(hours=120)

# prometheus/common v0.38 model.LabelNameRE (ASCII only).
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


class SilenceError(ValueError):
    """The silence is invalid (HTTP 400).  The message is Alertmanager's.

    ``writes`` holds records Alertmanager would still have written although the request failed
    (the expired predecessor of a replacement that then failed validation); usually empty.
    """

    def __init__(self, message: str, writes: Iterable[Silence] = ()) -> None:
        super().__init__(message)
        self.writes: list[Silence] = list(writes)


class SilenceNotFound(LookupError):
    """No silence with that id (HTTP 404)."""

    def __init__(self, message: str = "silence not found") -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


# --- matchers ---------------------------------------------------------------------------------


def _match_type(m: MatcherModel) -> MatchType:
    # api/v2/compat.go PostableSilenceToProto
    if m.is_regex:
        return MatchType.REGEX if m.is_equal else MatchType.NOT_REGEX
    return MatchType.EQUAL if m.is_equal else MatchType.NOT_EQUAL


def _valid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from a "\ud800" JSON escape
        return False
    return True


def _compile_one(m: MatcherModel) -> Matcher:
    """silence.go ValidateMatcher + compilation; raises MatcherError with Alertmanager's text."""
    if not _LABEL_NAME.fullmatch(m.name):
        raise MatcherError(f"invalid label name {go_quote(m.name)}")
    kind = _match_type(m)
    if kind in (MatchType.EQUAL, MatchType.NOT_EQUAL):
        if not _valid_utf8(m.value):
            raise MatcherError(f"invalid label value {go_quote(m.value)}")
        return Matcher(m.name, kind, m.value)
    try:
        # ValidateMatcher compiles the pattern on its own (regexp.Compile(pattern)), so a value
        # like `a)|(b`, which compiles once anchored as "^(?:a)|(b)$", is still refused.
        compile_regexp(m.value)
        return Matcher(m.name, kind, m.value)
    except (MatcherError, RegexError) as exc:
        raise MatcherError(f"invalid regular expression {go_quote(m.value)}: {exc}") from None


@lru_cache(maxsize=65536)
def _compile_cached(key: tuple[tuple[str, str, bool, bool], ...]) -> Matchers:
    out = []
    for i, (name, value, is_regex, is_equal) in enumerate(key):
        model = MatcherModel(name=name, value=value, is_regex=is_regex, is_equal=is_equal)
        try:
            out.append(_compile_one(model))
        except MatcherError as exc:
            raise SilenceError(f"invalid label matcher {i}: {exc}") from None
    return Matchers(out)


def _matcher_key(silence: Silence) -> tuple[tuple[str, str, bool, bool], ...]:
    return tuple((m.name, m.value, m.is_regex, m.is_equal) for m in silence.matchers)


def compile_matchers(silence: Silence) -> Matchers:
    """The silence's matchers as :class:`pipeline.matchers.Matchers` (cached by content).

    Raises SilenceError("invalid label matcher <i>: ...") like Alertmanager's validation.
    """
    return _compile_cached(_matcher_key(silence))


def _matches_empty(m: Matcher) -> bool:
    # silence.go matchesEmpty: only `=` and `=~` count.  Go tests the regex unanchored against "",
    # which is the same as the anchored match for the empty string.
    if m.type is MatchType.EQUAL:
        return m.value == ""
    if m.type is MatchType.REGEX:
        return m.matches("")
    return False


# --- validation -------------------------------------------------------------------------------


def validate_stored(silence: Silence) -> Matchers:
    """silence.go validateSilence, run on every write; messages prefixed "silence invalid: ".

    Returns the compiled matchers.
    """
    try:
        if silence.id == "":
            raise SilenceError("ID missing")
        if not silence.matchers:
            raise SilenceError("at least one matcher required")
        matchers = compile_matchers(silence)
        if all(_matches_empty(m) for m in matchers):
            raise SilenceError("at least one matcher must not match the empty string")
        if silence.starts_at == _GO_ZERO_TIME:
            raise SilenceError("invalid zero start timestamp")
        if silence.ends_at == _GO_ZERO_TIME:
            raise SilenceError("invalid zero end timestamp")
        if silence.ends_at < silence.starts_at:
            raise SilenceError("end time must not be before start time")
        if silence.updated_at == _GO_ZERO_TIME:
            raise SilenceError("invalid zero update timestamp")
    except SilenceError as exc:
        raise SilenceError(f"silence invalid: {exc}") from None
    return matchers


def check_post_times(silence: Silence, now: datetime) -> None:
    """The time checks POST /api/v2/silences makes before anything else (api/v2/api.go)."""
    if silence.starts_at >= silence.ends_at:
        raise SilenceError("Failed to create silence: start time must be before end time")
    if silence.ends_at < now:
        raise SilenceError("Failed to create silence: end time can't be in the past")


def validate_silence(silence: Silence, now: datetime) -> None:
    """Every check a POSTed silence goes through, in Alertmanager's order, without the store:
    the API's time checks, then validateSilence on the silence as it would be stored (a new
    silence gets a placeholder id and its startsAt clamped to now)."""
    check_post_times(silence, now)
    stored = replace(
        silence,
        id=silence.id or "new",
        starts_at=silence.starts_at if silence.id else max(silence.starts_at, now),
        updated_at=now,
    )
    validate_stored(stored)


# --- state and transitions --------------------------------------------------------------------


def silence_state(silence: Silence, now: datetime) -> SilenceState:
    """silence.go getState: pending before startsAt, expired after endsAt, else active."""
    if now < silence.starts_at:
        return "pending"
    if now > silence.ends_at:
        return "expired"
    return "active"


def _unix_seconds(t: datetime) -> int:
    # Go's Time.Unix(): whole seconds, floored.
    return (t - _EPOCH) // timedelta(seconds=1)


def can_update(existing: Silence, posted: Silence, now: datetime) -> bool:
    """silence.go canUpdate: may ``posted`` overwrite ``existing`` without rewriting history?"""
    if existing.matchers != posted.matchers:
        return False
    state = silence_state(existing, now)
    if state == "active":
        if _unix_seconds(posted.starts_at) != _unix_seconds(existing.starts_at):
            return False
        if posted.ends_at < now:
            return False
        return True
    if state == "pending":
        return posted.starts_at >= now
    return False


def _copy(silence: Silence, **changes) -> Silence:
    # A stored version of its own: its matcher list is not shared with the silence it came from
    # (the matchers themselves are immutable).
    return replace(silence, matchers=list(silence.matchers), **changes)


def prepare_new(silence: Silence, now: datetime, new_id: str) -> Silence:
    """A silence as stored on creation: new id, startsAt clamped to now, updatedAt now."""
    return _copy(silence, id=new_id, starts_at=max(silence.starts_at, now), updated_at=now)


def expire(silence: Silence, now: datetime) -> Silence | None:
    """DELETE /silence/{id} (silence.go expire): the record to write, or None when the silence
    is already expired (Alertmanager answers 200 and changes nothing)."""
    state = silence_state(silence, now)
    if state == "expired":
        return None
    if state == "active":
        update = {"ends_at": now, "updated_at": now}
    else:  # pending: both ends to now, so it reads as expired right after
        update = {"starts_at": now, "ends_at": now, "updated_at": now}
    return _copy(silence, **update)


def apply_post(
    existing: Silence | None,
    posted: Silence,
    now: datetime,
    new_id: Callable[[], str],
) -> list[Silence]:
    """POST /api/v2/silences (api.go postSilencesHandler + silence.go Set).

    ``existing`` is the stored silence with ``posted.id`` (None if there is none, or if
    ``posted.id`` is empty).  Returns the records to write, in order: the updated silence, or
    [the expired predecessor,] the new silence -- whose id is the one to answer with (the last).
    Raises SilenceError (400; see its ``writes``) or SilenceNotFound (404).
    """
    check_post_times(posted, now)
    writes: list[Silence] = []
    if posted.id:
        if existing is None:
            raise SilenceNotFound()
        if existing.id != posted.id:
            raise ValueError(f"existing silence {existing.id!r} is not {posted.id!r}")
        if can_update(existing, posted, now):
            updated = _copy(posted, updated_at=now)
            validate_stored(updated)
            return [updated]
        expired = expire(existing, now)
        if expired is not None:
            writes.append(expired)
    elif existing is not None:
        raise ValueError("a silence without id cannot have an existing record")
    created = prepare_new(posted, now, new_id())
    try:
        validate_stored(created)
    except SilenceError as exc:
        raise SilenceError(str(exc), writes) from None
    writes.append(created)
    return writes


def is_garbage(silence: Silence, now: datetime, retention: timedelta = DEFAULT_RETENTION) -> bool:
    """silence.go GC: dropped once ``endsAt + retention`` is not after now."""
    return silence.ends_at + retention <= now


# --- the index --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    silence: Silence
    matchers: Matchers
    anchor: tuple[str, str] | None  # an `name="value"` (value non-empty) every match needs


def _anchor(matchers: Matchers) -> tuple[str, str] | None:
    # Only a non-empty equality is usable: `a=""` also matches alerts without the label, which a
    # lookup by the alert's labels would never reach.
    for m in matchers:
        if m.type is MatchType.EQUAL and m.value != "":
            return (m.name, m.value)
    return None


class Silencer:
    """An incrementally updated index of silences answering "which active silences match?".

    Silences with an equality matcher (non-empty value) -- nearly all in practice -- are
    indexed by that ``(name, value)``, so a lookup touches only the silences sharing one of the
    alert's label pairs, plus the few without such a matcher (scanned).  ``version`` increases
    on every change, so callers can cache per-alert results as Alertmanager's marker does
    (its cached id lists are re-checked for state on every use; see ``matching``).
    """

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._entries: dict[str, _Entry] = {}
        self._by_pair: dict[tuple[str, str], set[str]] = {}
        self._unanchored: set[str] = set()
        self.version = 0
        for silence in silences:
            self.upsert(silence)

    # -- updates
    def upsert(self, silence: Silence) -> bool:
        """Insert or replace (by id; the last write wins, as on the compacted topic).

        Returns whether anything changed.  Raises SilenceError if the matchers do not compile.
        """
        old = self._entries.get(silence.id)
        if old is not None and old.silence == silence:
            return False
        matchers = compile_matchers(silence)
        if old is not None:
            self._unlink(old)
        entry = _Entry(silence, matchers, _anchor(matchers))
        self._entries[silence.id] = entry
        if entry.anchor is None:
            self._unanchored.add(silence.id)
        else:
            self._by_pair.setdefault(entry.anchor, set()).add(silence.id)
        self.version += 1
        return True

    def remove(self, silence_id: str) -> bool:
        entry = self._entries.pop(silence_id, None)
        if entry is None:
            return False
        self._unlink(entry)
        self.version += 1
        return True

    def gc(self, now: datetime, retention: timedelta = DEFAULT_RETENTION) -> list[str]:
        """Remove garbage silences (``is_garbage``); returns their ids, sorted."""
        gone = sorted(
            sid for sid, e in self._entries.items() if is_garbage(e.silence, now, retention)
        )
        for sid in gone:
            self.remove(sid)
        return gone

    def _unlink(self, entry: _Entry) -> None:
        sid = entry.silence.id
        if entry.anchor is None:
            self._unanchored.discard(sid)
            return
        bucket = self._by_pair.get(entry.anchor)
        if bucket is not None:
            bucket.discard(sid)
            if not bucket:
                del self._by_pair[entry.anchor]

    # -- queries
    def _candidates(self, labels: Mapping[str, str]) -> Iterator[_Entry]:
        entries = self._entries
        for sid in self._unanchored:
            yield entries[sid]
        by_pair = self._by_pair
        for pair in labels.items():
            bucket = by_pair.get(pair)
            if bucket:
                for sid in bucket:
                    yield entries[sid]

    def matching(self, labels: Mapping[str, str]) -> list[Silence]:
        """Silences of any state whose matchers all match ``labels``, sorted by id."""
        found = [e.silence for e in self._candidates(labels) if e.matchers.matches(labels)]
        found.sort(key=lambda s: s.id)
        return found

    def silenced_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """Ids (sorted) of the silences active at ``now`` that match ``labels``."""
        return self._in_state(labels, now, "active")

    def pending_for(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """Ids (sorted) of the pending silences that match ``labels`` (Alertmanager's marker
        keeps these too)."""
        return self._in_state(labels, now, "pending")

    def _in_state(self, labels: Mapping[str, str], now: datetime, state: str) -> list[str]:
        found = []
        for e in self._candidates(labels):
            s = e.silence
            # Time first: cheaper than the matchers, and most stored silences are expired.
            if silence_state(s, now) == state and e.matchers.matches(labels):
                found.append(s.id)
        found.sort()
        return found

    def get(self, silence_id: str) -> Silence | None:
        entry = self._entries.get(silence_id)
        return None if entry is None else entry.silence

    def __contains__(self, silence_id: object) -> bool:
        return silence_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Silence]:
        for entry in self._entries.values():
            yield entry.silence
