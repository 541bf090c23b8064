"""Mirrors Alertmanager v0.25.0 silence/silence_test.go (validation, states, Set/canUpdate/expire,
GC, Silencer) and the API v2 checks of api/v2/api.go."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.models import Matcher as M
from pipeline.models import Silence, replace
from pipeline.muting.silences import (
    DEFAULT_RETENTION,
    SilenceError,
    SilenceNotFound,
    Silencer,
    apply_post,
    can_update,
    compile_matchers,
    expire,
    is_garbage,
    prepare_new,
    silence_state,
    validate_silence,
    validate_stored,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SEC = timedelta(seconds=1)


def eq(name: str, value: str) -> M:
    return M(name=name, value=value)


def neq(name: str, value: str) -> M:
    return M(name=name, value=value, is_equal=False)


def rx(name: str, value: str) -> M:
    return M(name=name, value=value, is_regex=True)


def nrx(name: str, value: str) -> M:
    return M(name=name, value=value, is_regex=True, is_equal=False)


def sil(
    matchers: list[M] | None = None,
    starts_at: datetime = NOW,
    ends_at: datetime = NOW + HOUR,
    id: str = "some_id",
    updated_at: datetime = NOW,
) -> Silence:
    return Silence(
        id=id,
        matchers=[eq("a", "b")] if matchers is None else matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        updated_at=updated_at,
        created_by="me",
        comment="c",
    )


def ids():
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


# --- TestValidateMatcher ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "error"),
    [
        (eq("a", "b"), None),
        (neq("a", "b"), None),
        (rx("a", "b"), None),
        (nrx("a", "b"), None),
        (eq("00", "a"), 'invalid label matcher 0: invalid label name "00"'),
        (eq("a-b", "a"), 'invalid label matcher 0: invalid label name "a-b"'),
        (eq("ä", "a"), 'invalid label matcher 0: invalid label name "ä"'),
        (
            rx("a", "(("),
            'invalid label matcher 0: invalid regular expression "((": '
            "error parsing regexp: missing closing ): `((`",
        ),
        (nrx("a", "))"), 'invalid label matcher 0: invalid regular expression "))"'),
        (eq("a", "\ud800"), "invalid label matcher 0: invalid label value"),
    ],
)
def test_validate_matcher(matcher: M, error: str | None) -> None:
    s = sil([matcher, eq("x", "y")])
    if error is None:
        validate_stored(s)
    else:
        with pytest.raises(SilenceError) as info:
            validate_stored(s)
        assert str(info.value).startswith("silence invalid: " + error)


# --- TestValidateSilence ----------------------------------------------------------------------

ZERO = datetime(1, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("silence", "error"),
    [
        (sil(ends_at=NOW), None),  # validateSilence allows startsAt == endsAt (the API does not)
        (sil(id=""), "ID missing"),
        (sil([]), "at least one matcher required"),
        (sil([eq("a", "b"), eq("00", "b")]), "invalid label matcher 1"),
        (sil([eq("a", ""), rx("b", ".*")]), "at least one matcher must not match the empty string"),
        (sil(starts_at=NOW, ends_at=NOW - SEC), "end time must not be before start time"),
        (sil(starts_at=ZERO), "invalid zero start timestamp"),
        (sil(updated_at=ZERO), "invalid zero update timestamp"),
    ],
)
def test_validate_silence(silence: Silence, error: str | None) -> None:
    if error is None:
        validate_stored(silence)
    else:
        with pytest.raises(SilenceError) as info:
            validate_stored(silence)
        assert str(info.value).startswith("silence invalid: " + error)


@pytest.mark.parametrize(
    ("matchers", "valid"),
    [
        ([eq("a", "")], False),
        ([rx("a", ".*")], False),
        ([rx("a", "foo|")], False),  # checked on Alertmanager 0.25.0: 400
        ([rx("a", "x*")], False),
        ([eq("a", ""), rx("b", "")], False),
        ([rx("a", "foo")], True),
        ([eq("a", ""), eq("b", "x")], True),
        # != and !~ never count as matching the empty string, although they do:
        # a silence {a!="foo"} is accepted (checked on Alertmanager 0.25.0: 200).
        ([neq("a", "foo")], True),
        ([nrx("a", "foo")], True),
        ([neq("a", "")], True),
    ],
)
def test_at_least_one_matcher_must_not_match_empty(matchers: list[M], valid: bool) -> None:
    if valid:
        validate_stored(sil(matchers))
    else:
        with pytest.raises(SilenceError, match="must not match the empty string"):
            validate_stored(sil(matchers))


# --- API v2 checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silence", "error"),
    [
        (sil(starts_at=NOW - HOUR, ends_at=NOW + HOUR), None),
        (
            sil(starts_at=NOW + HOUR, ends_at=NOW + HOUR),
            "Failed to create silence: start time must be before end time",
        ),
        (
            sil(starts_at=NOW + 2 * HOUR, ends_at=NOW + HOUR),
            "Failed to create silence: start time must be before end time",
        ),
        (
            sil(starts_at=NOW - 2 * HOUR, ends_at=NOW - HOUR),
            "Failed to create silence: end time can't be in the past",
        ),
        (sil(starts_at=NOW - 2 * HOUR, ends_at=NOW), None),  # endsAt == now is not in the past
        (sil([eq("a", "")], id=""), "silence invalid: at least one matcher must not match"),
        (sil([eq("0a", "b")], id=""), "silence invalid: invalid label matcher 0: invalid label"),
    ],
)
def test_validate_posted(silence: Silence, error: str | None) -> None:
    if error is None:
        validate_silence(silence, NOW)
    else:
        with pytest.raises(SilenceError) as info:
            validate_silence(silence, NOW)
        assert str(info.value).startswith(error)


def test_empty_created_by_and_comment_are_accepted() -> None:
    # The API requires the fields to be present (the model does), not non-empty: Alertmanager
    # 0.25.0 answers 200 to createdBy "" and comment "".
    validate_silence(replace(sil(id=""), created_by="", comment=""), NOW)


# --- states (getState, TestQState) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (NOW - SEC, "pending"),
        (NOW - timedelta(microseconds=1), "pending"),
        (NOW, "active"),
        (NOW + 30 * MIN, "active"),
        (NOW + HOUR, "active"),  # endsAt itself is still active
        (NOW + HOUR + timedelta(microseconds=1), "expired"),
    ],
)
def test_silence_state_boundaries(now: datetime, state: str) -> None:
    assert silence_state(sil(starts_at=NOW, ends_at=NOW + HOUR), now) == state


# --- TestSilenceCanUpdate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "posted", "ok"),
    [
        # expired
        (sil(starts_at=NOW - HOUR, ends_at=NOW - SEC), sil(starts_at=NOW, ends_at=NOW), False),
        # pending
        (
            sil(starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW - MIN, ends_at=NOW + HOUR),
            False,
        ),
        (
            sil(starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW + MIN, ends_at=NOW + MIN),
            True,
        ),
        (
            sil(starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW, ends_at=NOW + 2 * HOUR),
            True,
        ),  # starts exactly now
        # active
        (
            sil(starts_at=NOW - HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW - MIN, ends_at=NOW + 2 * HOUR),
            False,
        ),  # start moved
        (
            sil(starts_at=NOW - HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW - HOUR, ends_at=NOW - SEC),
            False,
        ),  # end in the past
        (
            sil(starts_at=NOW - HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW - HOUR, ends_at=NOW),
            True,
        ),
        (
            sil(starts_at=NOW - HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW - HOUR, ends_at=NOW + 3 * HOUR),
            True,
        ),
        (
            sil(starts_at=NOW - HOUR, ends_at=NOW + 2 * HOUR),  # same second is "same start"
            sil(starts_at=NOW - HOUR + timedelta(microseconds=999_999), ends_at=NOW + HOUR),
            True,
        ),
        (
            sil(starts_at=NOW - HOUR, ends_at=NOW + 2 * HOUR),
            sil(starts_at=NOW - HOUR - timedelta(microseconds=1), ends_at=NOW + HOUR),
            False,
        ),
        # matchers must be identical, in order
        (
            sil([eq("a", "b"), eq("c", "d")], starts_at=NOW - HOUR),
            sil([eq("c", "d"), eq("a", "b")], starts_at=NOW - HOUR),
            False,
        ),
        (
            sil([eq("a", "b")], starts_at=NOW - HOUR),
            sil([rx("a", "b")], starts_at=NOW - HOUR),
            False,
        ),
    ],
)
def test_can_update(existing: Silence, posted: Silence, ok: bool) -> None:
    assert can_update(existing, posted, NOW) is ok


# --- TestSilenceSet ---------------------------------------------------------------------------


def test_silence_set_sequence() -> None:
    new_id = ids()
    store: dict[str, Silence] = {}

    def post(s: Silence, now: datetime) -> list[Silence]:
        writes = apply_post(store.get(s.id) if s.id else None, s, now, new_id)
        for w in writes:
            store[w.id] = w
        return writes

    start1 = NOW
    # Insert silence with fixed start time in the future: kept as is.
    (s1,) = post(sil(id="", starts_at=start1 + 2 * MIN, ends_at=start1 + 5 * MIN), start1)
    assert (s1.id, s1.starts_at, s1.ends_at, s1.updated_at) == (
        "id1",
        start1 + 2 * MIN,
        start1 + 5 * MIN,
        start1,
    )

    # A start in the past is set to now.
    start2 = start1 + MIN
    (s2,) = post(sil(id="", starts_at=start2 - HOUR, ends_at=start2 + MIN), start2)
    assert (s2.id, s2.starts_at, s2.ends_at, s2.updated_at) == ("id2", start2, start2 + MIN, start2)

    # Overwrite silence 2 with a new end time: same id, updated in place.
    start3 = start2 + MIN
    (s3,) = post(replace(s2, ends_at=start3 + 100 * MIN), start3)
    assert (s3.id, s3.starts_at, s3.ends_at, s3.updated_at) == (
        "id2",
        start2,
        start3 + 100 * MIN,
        start3,
    )

    # New matchers: the old one is expired, a new one created (start = now).
    start4 = start3 + MIN
    old, s4 = post(replace(s3, matchers=[eq("a", "c")]), start4)
    assert (old.id, old.starts_at, old.ends_at, old.updated_at) == ("id2", start2, start4, start4)
    assert (s4.id, s4.matchers, s4.starts_at, s4.ends_at, s4.updated_at) == (
        "id3",
        [eq("a", "c")],
        start4,
        start3 + 100 * MIN,
        start4,
    )

    # Re-create the silence that just expired: it stays expired, a new one is made.
    start5 = start4 + MIN
    (s5,) = post(
        replace(s3, starts_at=start1, ends_at=start5 + 5 * MIN), start5 + SEC
    )
    assert (s5.id, s5.starts_at) == ("id4", start5 + SEC)
    assert store["id2"] == old


def test_set_active_silence_keeps_posted_start_within_the_same_second() -> None:
    # TestSetActiveSilence: an active silence whose start moves within the same second is
    # updated in place and stores the posted start.
    existing = sil(id="x", starts_at=NOW, ends_at=NOW + 5 * MIN)
    posted = replace(existing, starts_at=NOW + timedelta(microseconds=2), ends_at=NOW + 7 * MIN)
    (updated,) = apply_post(existing, posted, NOW + MIN, ids())
    assert updated.id == "x"
    assert updated.starts_at == NOW + timedelta(microseconds=2)
    assert updated.ends_at == NOW + 7 * MIN
    assert updated.updated_at == NOW + MIN


def test_pending_silence_update() -> None:
    existing = sil(id="x", starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR)
    # Move the start but not before now: in place.
    posted = replace(existing, starts_at=NOW + MIN, comment="new")
    (updated,) = apply_post(existing, posted, NOW, ids())
    assert (updated.id, updated.starts_at, updated.comment) == ("x", NOW + MIN, "new")
    # Move the start into the past: replaced; the pending one expires with both ends = now.
    posted = replace(existing, starts_at=NOW - MIN)
    old, new = apply_post(existing, posted, NOW, ids())
    assert (old.id, old.starts_at, old.ends_at) == ("x", NOW, NOW)
    assert (new.id, new.starts_at, new.ends_at) == ("id1", NOW, NOW + 2 * HOUR)


def test_update_of_expired_silence_creates_new_and_leaves_old() -> None:
    existing = sil(id="x", starts_at=NOW - 2 * HOUR, ends_at=NOW - HOUR)
    posted = replace(existing, ends_at=NOW + HOUR)
    (new,) = apply_post(existing, posted, NOW, ids())
    assert (new.id, new.starts_at, new.ends_at) == ("id1", NOW, NOW + HOUR)


# --- TestSilencesSetFail and the API's order of checks ----------------------------------------


def test_set_fail() -> None:
    with pytest.raises(SilenceNotFound) as info:
        apply_post(None, sil(id="some_id"), NOW, ids())
    assert str(info.value) == "silence not found"
    with pytest.raises(SilenceError, match="^silence invalid: at least one matcher required$"):
        apply_post(None, sil([], id=""), NOW, ids())


def test_time_checks_come_before_not_found() -> None:
    with pytest.raises(SilenceError, match="end time can't be in the past"):
        apply_post(None, sil(id="nope", starts_at=NOW - 2 * HOUR, ends_at=NOW - HOUR), NOW, ids())


def test_failed_replacement_still_expires_the_old_silence() -> None:
    # Alertmanager 0.25.0 (checked on the binary): POST with an existing id and an invalid
    # matcher answers 400 "silence invalid: ..." but has already expired the old silence.
    existing = sil(id="x", starts_at=NOW - HOUR)
    posted = replace(existing, matchers=[eq("0a", "b")])
    with pytest.raises(SilenceError) as info:
        apply_post(existing, posted, NOW, ids())
    assert str(info.value) == 'silence invalid: invalid label matcher 0: invalid label name "0a"'
    (expired,) = info.value.writes
    assert (expired.id, expired.ends_at, expired.updated_at) == ("x", NOW, NOW)


def test_new_silence_never_reuses_existing() -> None:
    with pytest.raises(ValueError):
        apply_post(sil(id="x"), sil(id=""), NOW, ids())


def test_prepare_new() -> None:
    s = prepare_new(sil(starts_at=NOW - HOUR), NOW, "n")
    assert (s.id, s.starts_at, s.updated_at) == ("n", NOW, NOW)
    s = prepare_new(sil(starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR), NOW, "n")
    assert s.starts_at == NOW + HOUR


# --- TestSilenceExpire ------------------------------------------------------------------------


def test_expire() -> None:
    pending = sil(id="pending", starts_at=NOW + MIN, ends_at=NOW + HOUR, updated_at=NOW - HOUR)
    active = sil(id="active", starts_at=NOW - MIN, ends_at=NOW + HOUR, updated_at=NOW - HOUR)
    expired = sil(id="expired", starts_at=NOW - HOUR, ends_at=NOW - MIN, updated_at=NOW - HOUR)

    p = expire(pending, NOW)
    assert p is not None
    assert (p.starts_at, p.ends_at, p.updated_at) == (NOW, NOW, NOW)
    a = expire(active, NOW)
    assert a is not None
    assert (a.starts_at, a.ends_at, a.updated_at) == (NOW - MIN, NOW, NOW)
    assert expire(expired, NOW) is None  # idempotent, nothing to write

    # Expiring sets endsAt to now: still "active" at that very instant, expired right after.
    assert silence_state(a, NOW) == "active"
    assert silence_state(a, NOW + timedelta(microseconds=1)) == "expired"
    assert silence_state(p, NOW + timedelta(microseconds=1)) == "expired"
    # The input is not modified.
    assert pending.starts_at == NOW + MIN


# --- TestSilencesGC ---------------------------------------------------------------------------


def test_gc_boundary() -> None:
    s = sil(starts_at=NOW - 2 * HOUR, ends_at=NOW - HOUR)
    assert DEFAULT_RETENTION == timedelta(hours=120)
    assert not is_garbage(s, NOW - HOUR + DEFAULT_RETENTION - SEC)
    assert is_garbage(s, NOW - HOUR + DEFAULT_RETENTION)  # ExpiresAt == now is collected
    assert is_garbage(s, NOW, retention=HOUR)
    silencer = Silencer([s, sil(id="keep")])
    assert silencer.gc(NOW, retention=HOUR) == ["some_id"]
    assert "some_id" not in silencer and "keep" in silencer


# --- TestQMatches -----------------------------------------------------------------------------

LABELS = {"job": "test", "instance": "web-1", "path": "/user/profile", "method": "GET"}


@pytest.mark.parametrize(
    ("matchers", "match"),
    [
        ([eq("job", "test")], True),
        ([neq("job", "test")], False),
        ([eq("job", "test"), eq("method", "POST")], False),
        ([eq("job", "test"), neq("method", "POST")], True),
        ([rx("path", "/user/.+")], True),
        ([nrx("path", "/user/.+")], False),
        ([rx("path", "/user/.+"), rx("path", "/nothing/.+")], False),
        ([rx("path", "user")], False),  # anchored
        ([eq("missing", ""), eq("job", "test")], True),  # a missing label is ""
    ],
)
def test_matching(matchers: list[M], match: bool) -> None:
    silencer = Silencer([sil(matchers)])
    assert bool(silencer.matching(LABELS)) is match
    assert compile_matchers(sil(matchers)).matches(LABELS) is match


# --- TestSilencer -----------------------------------------------------------------------------


def test_silencer_flow() -> None:
    new_id = ids()
    silencer = Silencer()
    now = NOW

    def post(s: Silence) -> str:
        existing = silencer.get(s.id) if s.id else None
        writes = apply_post(existing, s, now, new_id)
        for w in writes:
            silencer.upsert(w)
        return writes[-1].id

    alert = {"foo": "bar"}
    assert silencer.silenced_by(alert, now) == []

    post(sil([eq("foo", "baz")], id="", starts_at=now - HOUR, ends_at=now + 5 * MIN))
    assert silencer.silenced_by(alert, now) == []

    sid = post(sil([eq("foo", "bar")], id="", starts_at=now - HOUR, ends_at=now + 5 * MIN))
    assert silencer.silenced_by(alert, now) == [sid]

    now += HOUR  # the silence expired
    assert silencer.silenced_by(alert, now) == []

    # Update the expired silence to start in the future: a new, pending silence.
    sid2 = post(sil([eq("foo", "bar")], id=sid, starts_at=now + HOUR, ends_at=now + 3 * HOUR))
    assert sid2 != sid
    assert silencer.silenced_by(alert, now) == []
    assert silencer.pending_for(alert, now) == [sid2]

    now += 2 * HOUR  # becomes active (issue #2426: no new write needed)
    assert silencer.silenced_by(alert, now) == [sid2]

    sid3 = post(sil([rx("foo", "b..")], id="", starts_at=now + HOUR, ends_at=now + 3 * HOUR))
    assert silencer.silenced_by(alert, now) == [sid2]

    now += 2 * HOUR  # first expires, the overlapping second becomes active
    assert silencer.silenced_by(alert, now) == [sid3]


def test_silencer_version_and_updates() -> None:
    silencer = Silencer()
    assert silencer.version == 0
    s = sil([eq("a", "1")], id="s")
    assert silencer.upsert(s)
    assert silencer.version == 1
    assert not silencer.upsert(replace(s))  # no change, no new version
    assert silencer.version == 1
    moved = replace(s, matchers=[eq("a", "2")])
    assert silencer.upsert(moved)
    assert silencer.silenced_by({"a": "1"}, NOW) == []
    assert silencer.silenced_by({"a": "2"}, NOW) == ["s"]
    assert silencer.remove("s")
    assert not silencer.remove("s")
    assert silencer.silenced_by({"a": "2"}, NOW) == []
    assert silencer.version == 3
    assert len(silencer) == 0


def test_silencer_unindexable_silences() -> None:
    silencer = Silencer(
        [
            sil([neq("a", "x")], id="neq"),
            sil([rx("b", "1|2")], id="re"),
            sil([eq("c", ""), rx("d", ".+")], id="empty-eq"),
        ]
    )
    assert silencer.silenced_by({}, NOW) == ["neq"]
    assert silencer.silenced_by({"b": "2"}, NOW) == ["neq", "re"]
    assert silencer.silenced_by({"a": "x", "d": "v"}, NOW) == ["empty-eq"]
    assert silencer.silenced_by({"c": "1", "d": "v"}, NOW) == ["neq"]


def test_silencer_rejects_invalid_matchers() -> None:
    with pytest.raises(SilenceError):
        Silencer().upsert(sil([rx("a", "((")]))


def test_regex_is_validated_unanchored_like_alertmanager() -> None:
    # "a)|(b" compiles once anchored ("^(?:a)|(b)$"), but ValidateMatcher compiles the bare
    # pattern, so the silence is refused.
    with pytest.raises(SilenceError, match="unexpected \\)"):
        validate_stored(sil([rx("a", "a)|(b")]))
