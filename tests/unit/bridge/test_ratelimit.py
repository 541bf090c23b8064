import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bridge.ratelimit import RateLimiters, TokenBucket
from pipeline.bridge.sources import Source, SourceRegistry, load_sources
from pipeline.paths import DEPLOY_DIR

T0 = 1000.0  # any clock origin; monotonic clocks do not start at 0


def test_starts_full_and_allows_a_burst_then_refuses():
    bucket = TokenBucket(rate=1, burst=3)
    assert [bucket.try_acquire(now=T0) for _ in range(3)] == [(True, 0.0)] * 3
    assert bucket.try_acquire(now=T0) == (False, 1.0)


def test_refill_earns_rate_tokens_per_second():
    bucket = TokenBucket(rate=2, burst=4)
    for _ in range(4):
        bucket.try_acquire(now=T0)
    assert bucket.tokens(T0 + 1) == pytest.approx(2)
    assert bucket.try_acquire(now=T0 + 1) == (True, 0.0)
    assert bucket.try_acquire(now=T0 + 1) == (True, 0.0)
    assert bucket.try_acquire(now=T0 + 1)[0] is False


def test_refill_stops_at_burst_after_a_long_idle_time():
    bucket = TokenBucket(rate=5, burst=3)
    bucket.try_acquire(now=T0)
    assert bucket.tokens(T0 + 3600) == 3
    assert [bucket.try_acquire(now=T0 + 3600)[0] for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize("rate, waited, retry_after", [
    (1, 0, 1.0),        # a whole token missing at 1/s
    (1, 0.5, 1.0),      # half a second left: rounded up to the next whole second
    (1, 0.999, 1.0),
    (0.5, 0, 2.0),
    (0.5, 1.2, 1.0),    # 0.8 s left
    (0.1, 0, 10.0),
    (0.1, 3, 7.0),      # exactly 7 s left despite 3 x 0.1 not being exact in binary
    (0.3, 0, 4.0),      # 3.33 s
    (10, 0, 1.0),       # 0.1 s: never below one second, a Retry-After of 0 invites a hammering
    (10, 0.05, 1.0),
])
def test_retry_after_is_the_wait_for_the_missing_tokens_rounded_up(rate, waited, retry_after):
    bucket = TokenBucket(rate=rate, burst=1)
    assert bucket.try_acquire(now=T0) == (True, 0.0)
    assert bucket.try_acquire(now=T0 + waited) == (False, retry_after)


def test_retry_after_for_a_larger_cost():
    bucket = TokenBucket(rate=2, burst=10)
    assert bucket.try_acquire(10, now=T0) == (True, 0.0)
    assert bucket.try_acquire(5, now=T0 + 1) == (False, 2.0)  # 2 earned, 3 missing at 2/s -> 1.5 s -> 2
    assert bucket.try_acquire(5, now=T0 + 2.5) == (True, 0.0)


def test_waiting_exactly_retry_after_is_enough():
    bucket = TokenBucket(rate=0.1, burst=1)
    bucket.try_acquire(now=T0)
    allowed, retry_after = bucket.try_acquire(now=T0)
    assert not allowed
    assert bucket.try_acquire(now=T0 + retry_after) == (True, 0.0)


def test_a_refused_request_takes_nothing():
    bucket = TokenBucket(rate=1, burst=1)
    bucket.try_acquire(now=T0)
    for _ in range(5):
        assert bucket.try_acquire(now=T0 + 0.5)[0] is False
    assert bucket.try_acquire(now=T0 + 1) == (True, 0.0)


def test_fractional_tokens_accumulate_exactly():
    bucket = TokenBucket(rate=0.1, burst=1)
    bucket.try_acquire(now=T0)
    for step in range(1, 10):
        assert bucket.try_acquire(now=T0 + step)[0] is False  # 0.1 earned per second
    assert bucket.try_acquire(now=T0 + 10) == (True, 0.0)


def test_a_clock_stepping_back_earns_nothing_and_pays_nothing_twice():
    bucket = TokenBucket(rate=1, burst=1)
    bucket.try_acquire(now=T0 + 10)
    assert bucket.try_acquire(now=T0)[0] is False  # earlier than the last update
    assert bucket.try_acquire(now=T0 + 10.5)[0] is False  # still only 0.5 s after the real last one
    assert bucket.try_acquire(now=T0 + 11) == (True, 0.0)


def test_first_call_sets_the_origin_whatever_the_clock_says():
    bucket = TokenBucket(rate=1, burst=2)
    assert bucket.tokens(now=-50.0) == 2
    assert bucket.try_acquire(now=-50.0) == (True, 0.0)


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0), (1, 1.5), (1, True)])
def test_invalid_bucket_parameters(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


@pytest.mark.parametrize("cost, words", [(0, "positive"), (-1, "positive"), (4, "exceeds the burst of 3")])
def test_invalid_costs(cost, words):
    with pytest.raises(ValueError, match=words):
        TokenBucket(rate=1, burst=3).try_acquire(cost, now=T0)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=200),
)
def test_never_grants_more_than_burst_plus_refill(rate, burst, gaps):
    bucket = TokenBucket(rate=rate, burst=burst)
    now, granted = T0, 0
    for gap in gaps:
        now += gap
        allowed, retry_after = bucket.try_acquire(now=now)
        granted += allowed
        assert retry_after == 0.0 if allowed else (retry_after >= 1 and retry_after == int(retry_after))
    assert granted <= burst + rate * (now - T0) + 1e-6


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=100),
    burst=st.integers(min_value=1, max_value=20),
    cost=st.integers(min_value=1, max_value=20),
    waited=st.floats(min_value=0, max_value=10),
)
def test_retry_after_is_enough_and_not_a_second_too_long(rate, burst, cost, waited):
    if cost > burst:
        return
    bucket = TokenBucket(rate=rate, burst=burst)
    bucket.try_acquire(burst, now=T0)  # empty it
    allowed, retry_after = bucket.try_acquire(cost, now=T0 + waited)
    if allowed:
        return
    later = T0 + waited + retry_after
    # A second less would not (always) have been enough, unless the floor of 1 s applies.
    assert retry_after == 1 or bucket.tokens(later - 1) + 1e-9 < cost
    assert bucket.try_acquire(cost, now=later) == (True, 0.0)


# --- per-source limiters -----------------------------------------------------------------------------


def registry() -> SourceRegistry:
    return SourceRegistry([
        Source(name="open", type="alertmanager-v2", auth="none"),
        Source(name="tight", type="grafana", auth="none",
               limits={"rate_limit": {"requests_per_second": 1, "burst": 2}}),
        Source(name="other", type="alertmanager-webhook", auth="none",
               limits={"rate_limit": {"requests_per_second": 1, "burst": 1}}),
    ])


def test_unlimited_sources_always_pass():
    limiters = RateLimiters(registry())
    assert limiters.bucket("open") is None
    assert all(limiters.try_acquire("open", now=T0) == (True, 0.0) for _ in range(10_000))


def test_each_limited_source_has_its_own_bucket():
    limiters = RateLimiters(registry())
    assert limiters.try_acquire("tight", now=T0) == (True, 0.0)
    assert limiters.try_acquire("tight", now=T0) == (True, 0.0)
    assert limiters.try_acquire("tight", now=T0) == (False, 1.0)
    assert limiters.try_acquire("other", now=T0) == (True, 0.0)  # unaffected by "tight"
    bucket = limiters.bucket("tight")
    assert (bucket.rate, bucket.burst) == (1.0, 2)


def test_unknown_source_is_a_key_error():
    with pytest.raises(KeyError):
        RateLimiters(registry()).try_acquire("nope", now=T0)


def test_limiters_for_the_shipped_sources():
    limiters = RateLimiters(load_sources(DEPLOY_DIR / "local" / "sources", environ={}))
    assert limiters.bucket("prometheus") is None
    assert limiters.bucket("grafana").burst == 20
