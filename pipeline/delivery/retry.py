"""Where a notification goes after an attempt that did not deliver it: a retry tier or the DLQ.

Tiers are the topology's retry topics (those with a ``delay``), shortest first. A notification gets
one attempt from ``notifications`` and one from each tier: after the n-th failed attempt it goes to
tier n (1-based), and once it failed on the last tier it is exhausted and dead-lettered. A target's
``retry_after`` longer than that tier's delay moves it to the first tier that waits at least that
long (or the last tier), never to a shorter one: the target asked not to be called earlier.
A permanent outcome is dead-lettered at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.delivery.headers import RetryState


@dataclass(frozen=True)
class RetryTier:
    topic: str  # topology name, e.g. "notifications.retry.5s"
    delay_s: float


@dataclass(frozen=True)
class RetryLater:
    tier: RetryTier
    state: RetryState  # to write into the record's headers


@dataclass(frozen=True)
class DeadLetter:
    error_class: str  # __connect.errors.exception.class.name: why, as a word
    reason: str
    state: RetryState


PERMANENT = "PermanentFailure"
EXHAUSTED = "AttemptsExhausted"


class RetryPolicy:
    def __init__(self, tiers: Sequence[RetryTier]):
        if not tiers:
            raise ValueError("at least one retry tier is needed (topics with a delay in the topology)")
        self.tiers = tuple(sorted(tiers, key=lambda t: t.delay_s))

    @property
    def max_attempts(self) -> int:
        """One attempt from the main topic plus one per tier."""
        return len(self.tiers) + 1

    def tier_of(self, topic: str) -> RetryTier | None:
        return next((t for t in self.tiers if t.topic == topic), None)

    def after_retryable(self, state: RetryState, reason: str, now: datetime,
                        retry_after: float | None = None) -> RetryLater | DeadLetter:
        """A retryable failure (or a deferral that counts as an attempt)."""
        failed = state.after_failure(reason, now)
        if failed.attempts > len(self.tiers):
            return DeadLetter(EXHAUSTED, f"{failed.attempts} attempts failed, the last: {reason}", failed)
        index = failed.attempts - 1
        if retry_after is not None and retry_after > self.tiers[index].delay_s:
            index = next((i for i, t in enumerate(self.tiers) if i >= index and t.delay_s >= retry_after),
                         len(self.tiers) - 1)
        tier = self.tiers[index]
        return RetryLater(tier, RetryState(failed.attempts, failed.first_failure, failed.last_error, tier.topic))

    def after_permanent(self, state: RetryState, reason: str, now: datetime) -> DeadLetter:
        return DeadLetter(PERMANENT, reason, state.after_failure(reason, now))

    def requeue(self, state: RetryState, current_topic: str) -> RetryLater:
        """Not attempted and not counted (the target's backlog is full, or another worker holds the
        notification in flight): back to the tier it came from, the first tier from the main topic."""
        tier = self.tier_of(current_topic) or self.tiers[0]
        return RetryLater(tier, RetryState(state.attempts, state.first_failure, state.last_error, tier.topic))
