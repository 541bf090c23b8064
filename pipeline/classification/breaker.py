"""A circuit breaker for the model API. Pure: the clock is passed in.

Closed: calls go through; ``failure_threshold`` consecutive failures open it. Open: calls are refused
(the rules stand, at no latency) until ``reset_after_s`` passed; then one trial call is let through
(half-open). Its success closes the breaker, its failure opens it again for another period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half-open"]


@dataclass
class CircuitBreaker:
    failure_threshold: int
    reset_after_s: float
    consecutive_failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        if now - self.opened_at >= self.reset_after_s:
            return "half-open"
        return "open"

    def allow(self, now: float) -> bool:
        """Whether a call may go out now; in half-open state only one trial at a time."""
        state = self.state(now)
        if state == "closed":
            return True
        if state == "half-open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def record_failure(self, now: float) -> None:
        self.consecutive_failures += 1
        self.trial_in_flight = False
        if self.opened_at is not None or self.consecutive_failures >= self.failure_threshold:
            self.opened_at = now  # a failed trial re-opens for a full period
