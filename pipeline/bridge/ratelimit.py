"""Per-source rate limiting with token buckets, driven by an injected clock.

The caller passes ``now`` (e.g. ``time.monotonic()``) on every call, so tests step time by hand and
never sleep. Not thread-safe, on purpose: the bridge runs on one asyncio event loop and a bucket
update never awaits, so no two updates interleave; a lock would only cost time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pipeline.sources.model import Source

# Float refill arithmetic can leave 0.9999999999 of a token where 1 was earned (3 x 0.1/s), and a
# deficit of 1.0000000001 s where 1 s is meant; this slack keeps exact cases exact.
_SLACK = 1e-9


class TokenBucket:
    """``burst`` tokens at most, refilled continuously at ``rate`` per second; starts full."""

    def __init__(self, rate: float, burst: int) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number of tokens per second, not {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a whole number of at least 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None  # the first call sets the clock's origin

    def tokens(self, now: float) -> float:
        """How many tokens are available at ``now`` (refills, consumes nothing)."""
        self._refill(now)
        return self._tokens

    def try_acquire(self, cost: float = 1, *, now: float) -> tuple[bool, float]:
        """Take ``cost`` tokens if available.

        Returns ``(True, 0.0)`` when taken, else ``(False, retry_after)``: whole seconds (at least 1)
        until ``cost`` tokens will be available, ready for a Retry-After header. A refused request
        takes nothing. A cost above ``burst`` could never be granted and raises ValueError.
        """
        if not cost > 0:
            raise ValueError(f"cost must be positive, not {cost!r}")
        if cost > self.burst:
            raise ValueError(f"cost {cost} exceeds the burst of {self.burst}: it could never be granted")
        self._refill(now)
        if self._tokens + _SLACK >= cost:
            self._tokens = max(0.0, self._tokens - cost)
            return True, 0.0
        wait = (cost - self._tokens) / self.rate
        # Rounded up, so a client that honours Retry-After finds the tokens there; never 0, which
        # would invite an immediate retry.
        return False, float(max(1, math.ceil(wait - _SLACK)))

    def _refill(self, now: float) -> None:
        if self._updated is None:
            self._updated = now
            return
        elapsed = now - self._updated
        if elapsed <= 0:
            # A clock that steps back (or repeats) earns nothing and does not move the origin back,
            # which would otherwise pay out the same interval twice.
            return
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now


class RateLimiters:
    """One bucket per rate-limited source, by source name; sources without ``rate_limit`` pass."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self._buckets: dict[str, TokenBucket | None] = {}
        for source in sources:
            limit = source.limits.rate_limit
            self._buckets[source.name] = (
                TokenBucket(limit.requests_per_second, limit.burst) if limit is not None else None
            )

    def try_acquire(self, source_name: str, cost: float = 1, *, now: float) -> tuple[bool, float]:
        """As ``TokenBucket.try_acquire`` for the named source; KeyError for an unknown source."""
        bucket = self._buckets[source_name]
        if bucket is None:
            return True, 0.0
        return bucket.try_acquire(cost, now=now)

    def bucket(self, source_name: str) -> TokenBucket | None:
        """The named source's bucket, None when it is unlimited; KeyError for an unknown source."""
        return self._buckets[source_name]
