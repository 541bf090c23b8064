"""Token bucket per target, paused until a target's Retry-After has passed.

``reserve`` hands out a token now or says how long to wait for one; the sink waits that long in the
target's own lane (only that target waits) or, when the wait is longer than it may hold a record in
memory, sends the record to a retry tier. Time is passed in (monotonic seconds), so tests need no clock.
"""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, now: float):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._updated = now
        self._paused_until = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def pause_until(self, until: float) -> None:
        """No token before ``until`` (the target's Retry-After); later pauses never shorten earlier ones."""
        self._paused_until = max(self._paused_until, until)

    def paused_for(self, now: float) -> float:
        return max(0.0, self._paused_until - now)

    def reserve(self, now: float) -> float:
        """Seconds to wait before calling the target; 0 means go now (a token was taken).

        A positive answer takes nothing: ask again after waiting, so a record that goes elsewhere
        instead (a retry tier) does not use up the target's budget."""
        paused = self.paused_for(now)
        if paused > 0:
            return paused
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
