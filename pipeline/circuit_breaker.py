"""A circuit breaker: stop calling an endpoint that keeps failing. Pure: the clock is passed in.

Closed: every call goes through; ``failure_threshold`` consecutive failures open it. Open: no call
until ``cooldown_s`` passed. Half-open: one probe call at a time; its success closes the breaker, its
failure opens it for another cool-down.

Callers decide what counts as a failure and what to do while it is open:

- the sink (per target): retryable failures other than 429 count (a 429 is the target's rate limit,
  a permanent 4xx means the endpoint answered); while open, records go to the next retry tier,
  counted as an attempt, so a dead endpoint still ends in the DLQ after the last tier; while the
  probe is under way, records wait for its outcome (up to the sink's max_local_wait_s), so a target
  that is back gets its backlog at once instead of a tier later;
- the LLM classifier: any failed request counts; while open the rules stand, at no latency.
"""

from __future__ import annotations

from enum import IntEnum


class BreakerState(IntEnum):  # values are the metrics gauge's
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(self, failure_threshold: int, cooldown_s: float):
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s > 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def probing(self) -> bool:
        """A probe call is under way (half-open)."""
        return self._probe_in_flight

    def state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if now - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self, now: float) -> bool:
        """Whether to call the target now; a True in half-open state is the one probe."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self, now: float) -> None:
        self._failures += 1
        if self._probe_in_flight or self._failures >= self.failure_threshold:
            self._opened_at = now
        self._probe_in_flight = False

    def release_probe(self) -> None:
        """The probe ended without telling anything about the endpoint (e.g. the call was never made)."""
        self._probe_in_flight = False
