"""dedup: normalized alert events → the changes that matter; the latest state per alert in its table.

Per-fingerprint state lives in the stage's table (its changelog is alerts.state), so a restarted or
rebalanced worker knows every alert it had. Alertmanager's merge rules and what counts as a change
are in pipeline.dedup; the timer resolves alerts whose endsAt passed without an update
(resolve_timeout expiry) and forgets alerts resolved long enough ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.dedup import apply, collectable, expire, expiry_due
from pipeline.models import Alert, AlertEvent, replace
from pipeline.stages.processor import Emit, Processor, Record, Table

EXPIRY_SCAN_SECONDS = 0.5  # must be well under the shortest group_interval: resolution reaches groups as an event
EXPIRIES_PER_TICK = 5000   # a tick's bound: a backlog of expiries (after downtime) drains over a few ticks


@dataclass(frozen=True)
class DedupOutcome:
    key: bytes
    stored: AlertEvent          # the new table value (the merged event)
    forward: AlertEvent | None  # the change for downstream, None when nothing downstream cares


def dedup_record(incoming: AlertEvent, existing: AlertEvent | None, now: datetime) -> DedupOutcome:
    """One normalized alert against the stored state of its fingerprint. Pure."""
    applied = apply(existing.alert if existing else None, incoming.alert, now)
    merged = replace(incoming, alert=applied.state, change=applied.change or incoming.change)
    # A record read again after a crash or rebalance (at-least-once) leaves the state as it was: forward
    # nothing (the runtime logs a state change only once the emits it caused are on the broker, so the
    # first reading's emits went out). A sender's genuine re-send carries a new updated_at, so it counts.
    replayed = existing is not None and applied.state == existing.alert
    forward = merged if applied.change and not replayed else None
    return DedupOutcome(incoming.alert.fingerprint.encode(), merged, forward)


COLLECT = object()  # overdue_record's answer for "delete this alert's state"
# Alertmanager's --alerts.gc-interval: its GC drops alerts resolved when it runs, every 30m. Keeping a
# resolved alert that long here changes no decision (a re-send is "resolved", a return is "new"
# either way) and bounds the table to what resolved in the last half hour.
RESOLVED_RETENTION = timedelta(minutes=30)


def next_check(alert: Alert) -> datetime | None:
    """When the timer must look at a stored alert: a firing one at its endsAt (expiry), a resolved
    one when it may be forgotten."""
    if alert.ends_at is None:
        return None
    return alert.ends_at if alert.status == "firing" else alert.ends_at + RESOLVED_RETENTION


def stored_check(stored: AlertEvent) -> datetime | None:
    """``next_check`` of a table value: the table's due index."""
    return next_check(stored.alert)


def overdue_record(stored: AlertEvent, now: datetime):
    """What the timer does with a stored alert: its expired state when endsAt passed without an
    update, COLLECT when it has been resolved long enough to forget, else None. Pure."""
    if expiry_due(stored.alert, now):
        return replace(stored, alert=expire(stored.alert, now), change="expired")
    if collectable(stored.alert, now - RESOLVED_RETENTION):
        return COLLECT
    return None


class DedupProcessor(Processor):
    STAGE = "dedup"
    OUTPUTS = ("changes",)
    TABLES = (Table("alert_state", AlertEvent, due=stored_check),)
    TICK_INTERVAL_S = EXPIRY_SCAN_SECONDS

    @classmethod
    def from_settings(cls, settings, topology) -> DedupProcessor:
        return cls()

    def process(self, record: Record, state, now: datetime):
        incoming: AlertEvent = record.value
        table = state["alert_state"]
        key = incoming.alert.fingerprint.encode()
        outcome = dedup_record(incoming, table.get(key), now)
        table.set(key, outcome.stored)
        return (Emit("changes", key, outcome.forward),) if outcome.forward is not None else ()

    def tick(self, state, now: datetime):
        table = state["alert_state"]
        emits = []
        for key in table.pop_due(now, EXPIRIES_PER_TICK):
            stored = table.get(key)
            if stored is None:
                continue
            action = overdue_record(stored, now)
            if action is None:
                continue  # not due after all (its index entry was stale); set again when it changes
            if action is COLLECT:
                table.delete(key)  # a tombstone on alerts.state: compaction forgets it
                continue
            table.set(key, action)
            emits.append(Emit("changes", key, action))
        return emits
