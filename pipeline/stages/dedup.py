"""dedup: alerts.normalized → alerts.deduped (changes that matter) and alerts.state (latest per alert).

Per-fingerprint state lives in a changelog-backed table, so a restarted or rebalanced worker knows
every alert it had. Alertmanager's merge rules and what counts as a change are in pipeline.dedup;
a timer resolves alerts whose endsAt passed without an update (resolve_timeout expiry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.dead_letters import Rejected
from pipeline.dedup import apply, collectable, expire, expiry_due
from pipeline.models import Alert, AlertEvent, replace
from pipeline.settings import Settings

EXPIRY_SCAN_SECONDS = 0.5  # must be well under the shortest group_interval: resolution reaches groups as an event


@dataclass(frozen=True)
class DedupOutcome:
    key: bytes
    stored: bytes          # the new table value (the merged AlertEvent)
    forward: bytes | None  # what goes to alerts.deduped, None when nothing downstream cares
    check_at: datetime | None = None  # when the expiry timer must look at this alert next


def dedup_record(value: bytes | None, stored: bytes | None, now: datetime) -> DedupOutcome | Rejected:
    """One normalized alert against the stored state of its fingerprint. Pure."""
    try:
        incoming = wire.decode(AlertEvent, value)
        existing = wire.decode(AlertEvent, stored) if stored is not None else None
    except wire.WireError as exc:
        return Rejected("WireError", str(exc))
    applied = apply(existing.alert if existing else None, incoming.alert, now)
    merged = replace(incoming, alert=applied.state, change=applied.change or incoming.change)
    encoded = wire.encode(merged)
    # A record redelivered after a rebalance (at-least-once) leaves the state as it was: forward
    # nothing. A sender's genuine re-send carries a new updated_at, so it still counts.
    replayed = existing is not None and applied.state == existing.alert
    forward = encoded if applied.change and not replayed else None
    return DedupOutcome(incoming.alert.fingerprint.encode(), encoded, forward, next_check(applied.state))


COLLECT = b""  # overdue_record's answer for "delete this alert's state"
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


def overdue_record(stored: bytes, now: datetime) -> bytes | None:
    """What the timer does with a stored alert: its expired state when endsAt passed without an
    update, COLLECT when it has been resolved long enough to forget, else None. Pure."""
    event = wire.decode(AlertEvent, stored)
    if expiry_due(event.alert, now):
        return wire.encode(replace(event, alert=expire(event.alert, now), change="expired"))
    if collectable(event.alert, now - RESOLVED_RETENTION):
        return COLLECT
    return None


def stored_check(stored: bytes) -> datetime | None:
    """``next_check`` of a table value (rebuilding the index after an assignment)."""
    return next_check(wire.decode(AlertEvent, stored).alert)


def run(settings: Settings) -> None:
    from pipeline.due_index import DueIndex
    from pipeline.runtime.app import StageApp
    from pipeline.runtime.output import NO_EVENT

    stage = StageApp("dedup", settings)
    normalized = stage.topic("alerts.normalized")
    states = stage.table("alert_state")
    # When each alert of this worker's partitions needs the timer next; rebuilt from the table when
    # the assignment changes, so a tick costs what is due, not what is stored.
    checks = DueIndex()

    def rebuild_checks(owned: set[int]) -> None:
        checks.clear()
        for key, stored in stage.owned_items(states, owned):
            checks.set(key, stored_check(stored))

    deduped_name, state_name = settings.topic("alerts.deduped"), settings.topic("alerts.state")

    def handle(key, value):
        outcome = dedup_record(value, stage.lookup(states, key) if key is not None else None, datetime.now(timezone.utc))
        if isinstance(outcome, Rejected):
            return outcome
        checks.set(outcome.key, outcome.check_at)
        records = [stage.store(states, outcome.key, outcome.stored),
                   (state_name, outcome.key, outcome.stored, None)]
        if outcome.forward is not None:
            records.append((deduped_name, outcome.key, outcome.forward, None))
        return records

    @stage.app.agent(normalized, name="dedup")
    async def dedup_agent(stream):
        await stage.tables_ready()
        async for event in stream.noack().events():
            await stage.process(event, handle)

    @stage.app.timer(interval=EXPIRY_SCAN_SECONDS)
    async def expire_overdue():
        if not await stage.settled("alerts.normalized", rebuild_checks):
            return
        now = datetime.now(timezone.utc)
        records = []
        for key in checks.pop_due(now):
            stored = stage.lookup(states, key)
            if stored is None:
                continue
            action = overdue_record(stored, now)
            if action is None:
                checks.set(key, stored_check(stored))  # updated since it was indexed
                continue
            if action is COLLECT:
                # tombstones: the table and compaction forget it
                records += [stage.store(states, key, None), (state_name, key, None, None)]
                continue
            checks.set(key, stored_check(action))
            records += [stage.store(states, key, action), (state_name, key, action, None),
                        (deduped_name, key, action, None)]
        if records:
            # Through the agent's output, so an expiry never overtakes a buffered update of the alert.
            await stage.output.emit(NO_EVENT, records)

    stage.run()
