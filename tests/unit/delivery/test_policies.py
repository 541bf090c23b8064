from datetime import datetime, timedelta, timezone

import pytest

from pipeline.circuit_breaker import BreakerState, CircuitBreaker
from pipeline.delivery.headers import (ATTEMPTS, FIRST_FAILURE, LAST_ERROR, TIER, RetryState, read_retry_state,
                                       with_retry_state, without_retry_state)
from pipeline.delivery.ledger import LedgerEntry, Verdict, delivered, pending, verdict
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.delivery.retry import EXHAUSTED, PERMANENT, DeadLetter, RetryLater, RetryPolicy, RetryTier

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
TIERS = [RetryTier("notifications.retry.30s", 30), RetryTier("notifications.retry.5s", 5),
         RetryTier("notifications.retry.30m", 1800), RetryTier("notifications.retry.5m", 300)]


def test_each_failed_attempt_moves_one_tier_up_then_the_dlq():
    policy = RetryPolicy(TIERS)
    state, seen = RetryState(), []
    for attempt in range(1, 5):
        decision = policy.after_retryable(state, f"HTTP 503 #{attempt}", NOW + timedelta(minutes=attempt))
        assert isinstance(decision, RetryLater)
        seen.append(decision.tier.delay_s)
        state = decision.state
        assert state.attempts == attempt and state.first_failure == NOW + timedelta(minutes=1)
        assert state.tier == decision.tier.topic and state.last_error == f"HTTP 503 #{attempt}"
    assert seen == [5, 30, 300, 1800]
    final = policy.after_retryable(state, "HTTP 503 #5", NOW)
    assert isinstance(final, DeadLetter) and final.error_class == EXHAUSTED
    assert final.state.attempts == 5 == policy.max_attempts
    assert "5 attempts failed, the last: HTTP 503 #5" == final.reason


def test_retry_after_picks_a_tier_that_waits_long_enough_never_a_shorter_one():
    policy = RetryPolicy(TIERS)
    assert policy.after_retryable(RetryState(), "429", NOW, retry_after=20).tier.delay_s == 30
    assert policy.after_retryable(RetryState(), "429", NOW, retry_after=5).tier.delay_s == 5
    assert policy.after_retryable(RetryState(), "429", NOW, retry_after=9999).tier.delay_s == 1800
    # Third failure is due for the 5m tier already; a short retry_after does not bring it back.
    assert policy.after_retryable(RetryState(attempts=2), "429", NOW, retry_after=1).tier.delay_s == 300


def test_permanent_failure_is_dead_lettered_at_once_and_requeue_is_uncounted():
    policy = RetryPolicy(TIERS)
    dead = policy.after_permanent(RetryState(), "webhook: HTTP 400 bad", NOW)
    assert dead.error_class == PERMANENT and dead.reason == "webhook: HTTP 400 bad" and dead.state.attempts == 1
    again = policy.requeue(RetryState(attempts=2, last_error="x"), "notifications.retry.5m")
    assert again.tier.delay_s == 300 and again.state.attempts == 2
    assert policy.requeue(RetryState(), "notifications").tier.delay_s == 5
    with pytest.raises(ValueError):
        RetryPolicy([])


def test_retry_headers_round_trip_and_replace_old_ones():
    state = RetryState(3, NOW, "pagerduty: HTTP 502", "notifications.retry.5m")
    headers = with_retry_state([("traceparent", b"t"), (ATTEMPTS, b"1")], state)
    assert [k for k, _ in headers] == ["traceparent", ATTEMPTS, FIRST_FAILURE, LAST_ERROR, TIER]
    assert read_retry_state(headers) == state
    assert without_retry_state(headers) == [("traceparent", b"t")]
    assert read_retry_state(None) == RetryState()
    assert read_retry_state([(ATTEMPTS, b"many"), (FIRST_FAILURE, b"yesterday")]) == RetryState()
    assert len(state.after_failure("x" * 5000, NOW).last_error) == 1024


def test_token_bucket_spends_refills_and_honours_retry_after():
    bucket = TokenBucket(rate_per_s=2, burst=2, now=0.0)
    assert bucket.reserve(0.0) == 0 and bucket.reserve(0.0) == 0
    assert bucket.reserve(0.0) == pytest.approx(0.5)
    assert bucket.reserve(0.5) == 0  # refilled one token
    bucket.pause_until(10.0)
    bucket.pause_until(3.0)  # an earlier pause never shortens a later one
    assert bucket.reserve(1.0) == pytest.approx(9.0)
    assert bucket.reserve(10.0) == 0


def test_breaker_opens_after_consecutive_failures_and_probes_once_after_cooldown():
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10)
    breaker.record_failure(0)
    breaker.record_failure(1)
    breaker.record_success()  # not consecutive any more
    for t in (2, 3):
        breaker.record_failure(t)
    assert breaker.allow(3)
    breaker.record_failure(4)
    assert breaker.state(4) is BreakerState.OPEN and not breaker.allow(13.9)
    assert breaker.state(14) is BreakerState.HALF_OPEN
    assert breaker.allow(14) and not breaker.allow(14)  # one probe at a time
    breaker.record_failure(15)  # the probe failed: open for another cool-down
    assert breaker.state(24.9) is BreakerState.OPEN
    assert breaker.allow(25)
    breaker.record_success()
    assert breaker.state(25) is BreakerState.CLOSED and breaker.allow(25) and breaker.allow(25)


def test_ledger_verdicts():
    assert verdict(None, 100, lease_s=60) is Verdict.ATTEMPT
    assert verdict(delivered(1), 10**9, lease_s=60) is Verdict.ALREADY_DELIVERED
    assert verdict(pending(100, "a"), 159, lease_s=60) is Verdict.IN_FLIGHT
    assert verdict(pending(100, "a"), 160, lease_s=60) is Verdict.UNKNOWN_OUTCOME
    entry = pending(123.456, "tok")
    assert LedgerEntry.decode(entry.encode()) == entry
    assert LedgerEntry.decode(b"delivered|5.000|") == delivered(5)
    with pytest.raises(ValueError):
        LedgerEntry.decode(b"garbage")
