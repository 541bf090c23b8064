"""The delivery ledger's entries and what they mean for the next attempt at a notification. Pure.

One entry per notification id (the store is Redis, see ``pipeline.stages.sink_stores``):

- none: never attempted, or every attempt so far ended in a known failure → attempt it;
- ``pending``: an attempt started at ``started`` (wall clock) by the holder of ``token`` and has no
  recorded outcome yet. Written (SET NX) *before* the target is called, removed once the attempt's
  failure is durable elsewhere (retry tier or DLQ), replaced by ``delivered`` on success.
  Younger than the lease: the attempt may still be running (another worker after a rebalance, or a
  replayed copy) → do not call the target; requeue. Older than the lease: the worker that made it
  died between calling the target and recording the outcome → the **outcome is unknown**;
- ``delivered``: the target accepted it → never call the target for this id again (until the TTL).

A dead-lettered id never has an entry, so ``pipeline dlq replay`` can deliver it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ATTEMPT = "attempt"
    ALREADY_DELIVERED = "already_delivered"
    IN_FLIGHT = "in_flight"
    UNKNOWN_OUTCOME = "unknown_outcome"


@dataclass(frozen=True)
class LedgerEntry:
    state: str  # "pending" | "delivered"
    at: float  # wall-clock seconds: attempt start (pending) or delivery (delivered)
    token: str = ""  # the attempt's owner (pending only), so only it can release the entry

    def encode(self) -> bytes:
        return f"{self.state}|{self.at:.3f}|{self.token}".encode()

    @classmethod
    def decode(cls, raw: bytes | str | None) -> LedgerEntry | None:
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        state, _, rest = text.partition("|")
        at, _, token = rest.partition("|")
        try:
            when = float(at)
        except ValueError:
            when = 0.0  # unreadable time: a pending entry counts as stale, a delivered one stays delivered
        if state not in ("pending", "delivered"):
            raise ValueError(f"not a delivery ledger entry: {text[:80]!r}")
        return cls(state, when, token)


def pending(now: float, token: str) -> LedgerEntry:
    return LedgerEntry("pending", now, token)


def delivered(now: float) -> LedgerEntry:
    return LedgerEntry("delivered", now)


def verdict(entry: LedgerEntry | None, now: float, lease_s: float) -> Verdict:
    """What to do with a notification whose ledger entry is ``entry``."""
    if entry is None:
        return Verdict.ATTEMPT
    if entry.state == "delivered":
        return Verdict.ALREADY_DELIVERED
    if now - entry.at < lease_s:
        return Verdict.IN_FLIGHT
    return Verdict.UNKNOWN_OUTCOME
