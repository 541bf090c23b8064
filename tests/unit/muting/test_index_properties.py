"""Property tests: the Silencer and Inhibitor indexes answer exactly what a linear scan over
Alertmanager's rules answers, whatever the sequence of updates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.matchers import Matcher, Matchers, MatchType
from pipeline.models import Alert, Silence
from pipeline.models import Matcher as MatcherModel
from pipeline.muting.inhibition import Inhibitor, InhibitRule
from pipeline.muting.silences import Silencer, compile_matchers, silence_state

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
NAMES = ["a", "b", "c"]
VALUES = ["", "1", "2", "x"]
PATTERNS = ["", "1", "1|2", ".*", ".+", "x|", "[12]"]

names = st.sampled_from(NAMES)
values = st.sampled_from(VALUES)
offsets = st.integers(min_value=-5, max_value=5).map(lambda m: timedelta(minutes=m))
label_sets = st.dictionaries(names, values, max_size=3)


@st.composite
def model_matchers(draw: st.DrawFn) -> MatcherModel:
    is_regex = draw(st.booleans())
    value = draw(st.sampled_from(PATTERNS if is_regex else VALUES))
    return MatcherModel(
        name=draw(names), value=value, is_regex=is_regex, is_equal=draw(st.booleans())
    )


@st.composite
def silences(draw: st.DrawFn) -> Silence:
    start = NOW + draw(offsets)
    return Silence(
        id=draw(st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"])),
        matchers=draw(st.lists(model_matchers(), min_size=1, max_size=3)),
        starts_at=start,
        ends_at=start + abs(draw(offsets)),
        updated_at=NOW,
        created_by="p",
        comment="p",
    )


silencer_ops = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), silences()),
        st.tuples(st.just("remove"), st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"])),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(ops=silencer_ops, queries=st.lists(st.tuples(label_sets, offsets), min_size=1, max_size=8))
def test_silencer_index_equals_linear_scan(ops, queries) -> None:
    silencer = Silencer()
    current: dict[str, Silence] = {}
    for op, arg in ops:
        if op == "upsert":
            silencer.upsert(arg)
            current[arg.id] = arg
        else:
            silencer.remove(arg)
            current.pop(arg, None)
    assert len(silencer) == len(current)
    for labels, offset in queries:
        now = NOW + offset
        expected = sorted(
            s.id
            for s in current.values()
            if silence_state(s, now) == "active" and compile_matchers(s).matches(labels)
        )
        assert silencer.silenced_by(labels, now) == expected
        expected_pending = sorted(
            s.id
            for s in current.values()
            if silence_state(s, now) == "pending" and compile_matchers(s).matches(labels)
        )
        assert silencer.pending_for(labels, now) == expected_pending


# --- inhibition -------------------------------------------------------------------------------


@st.composite
def matchers(draw: st.DrawFn) -> Matchers:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        kind = draw(st.sampled_from(list(MatchType)))
        regex = kind in (MatchType.REGEX, MatchType.NOT_REGEX)
        value = draw(st.sampled_from(PATTERNS if regex else VALUES))
        out.append(Matcher(draw(names), kind, value))
    return Matchers(out)


rules = st.builds(
    InhibitRule,
    matchers(),
    matchers(),
    st.lists(names, max_size=2).map(tuple),
)
ends = st.one_of(st.none(), offsets.map(lambda d: NOW + d))
# A small pool, so that the same alert is often observed again with another endsAt.
POOL = [
    {},
    {"a": "1"},
    {"a": "1", "b": "1"},
    {"a": "2", "b": "1"},
    {"b": "x"},
    {"a": "1", "c": "2"},
]
observed_labels = st.one_of(st.sampled_from(POOL), label_sets)


def make_alert(labels: dict[str, str], ends_at: datetime | None) -> Alert:
    return Alert.with_fingerprint(
        labels=labels,
        starts_at=NOW - timedelta(hours=1),
        ends_at=ends_at,
        status="firing",
        updated_at=NOW,
    )


def _key(ends_at: datetime | None) -> tuple[int, datetime]:
    return (1, NOW) if ends_at is None else (0, ends_at)


def reference(rules: list[InhibitRule], store: dict[str, Alert], labels, now) -> tuple[list, list]:
    """inhibit.go Mutes/hasEqual, literally, over every stored alert; the reported source is
    the latest endsAt, then the smallest fingerprint."""
    first: list[str] = []
    every: set[str] = set()
    for r in rules:
        if not r.target_matchers.matches(labels):
            continue
        two_sided = r.source_matchers.matches(labels)
        found = [
            a
            for a in store.values()
            if r.source_matchers.matches(a.labels)
            and not a.is_resolved_at(now)
            and all(a.labels.get(n, "") == labels.get(n, "") for n in r.equal)
            and not (two_sided and r.target_matchers.matches(a.labels))
        ]
        every.update(a.fingerprint for a in found)
        if found and not first:
            best = max(
                found, key=lambda a: (_key(a.ends_at), tuple(-ord(c) for c in a.fingerprint))
            )
            first = [best.fingerprint]
    return first, sorted(every)


@settings(max_examples=500, deadline=None)
@given(
    rule_list=st.lists(rules, min_size=1, max_size=3),
    observed=st.lists(st.tuples(observed_labels, ends), max_size=30),
    gc_offset=st.one_of(st.none(), offsets),
    queries=st.lists(st.tuples(observed_labels, offsets), min_size=1, max_size=8),
)
def test_inhibitor_index_equals_linear_scan(rule_list, observed, gc_offset, queries) -> None:
    inhibitor = Inhibitor(rule_list)
    store: dict[str, Alert] = {}
    for labels, ends_at in observed:
        a = make_alert(labels, ends_at)
        inhibitor.observe(a)
        store[a.fingerprint] = a  # the newest version replaces the older, as in store.Alerts
    if gc_offset is not None:
        inhibitor.gc(NOW + gc_offset)
    restored = Inhibitor.from_state(rule_list, json.loads(json.dumps(inhibitor.to_state())))
    for labels, offset in queries:
        now = NOW + offset
        if gc_offset is not None and now < NOW + gc_offset:
            continue  # gc is only invisible to lookups at or after its own time
        first, every = reference(rule_list, store, labels, now)
        assert inhibitor.inhibited_by(labels, now) == first
        assert inhibitor.inhibiting_sources(labels, now) == every
        assert restored.inhibited_by(labels, now) == first


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["put", "discard"]), st.sampled_from("abcdef"), ends),
        max_size=60,
    )
)
def test_bucket_heap_best_is_the_latest_end(ops) -> None:
    from pipeline.muting.inhibition import _Heap, _Source

    heap = _Heap()
    members: dict[str, datetime | None] = {}
    for op, fp, ends_at in ops:
        if op == "put":
            heap.put(_Source(fp, {}, ends_at))
            members[fp] = ends_at
        else:
            heap.discard(fp)
            members.pop(fp, None)
        best = heap.best()
        if not members:
            assert best is None
        else:
            want = max(members, key=lambda f: (_key(members[f]), tuple(-ord(c) for c in f)))
            assert best is not None and best.fingerprint == want
