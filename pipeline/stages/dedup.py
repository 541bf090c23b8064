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
from pipeline.models import AlertEvent
from pipeline.settings import Settings

EXPIRY_SCAN_SECONDS = 0.5  # must be well under the shortest group_interval: resolution reaches groups as an event


@dataclass(frozen=True)
class DedupOutcome:
    key: bytes
    stored: bytes          # the new table value (the merged AlertEvent)
    forward: bytes | None  # what goes to alerts.deduped, None when nothing downstream cares


def dedup_record(value: bytes | None, stored: bytes | None, now: datetime) -> DedupOutcome | Rejected:
    """One normalized alert against the stored state of its fingerprint. Pure."""
    try:
        incoming = wire.decode(AlertEvent, value)
        existing = wire.decode(AlertEvent, stored) if stored is not None else None
    except wire.WireError as exc:
        return Rejected("WireError", str(exc))
    applied = apply(existing.alert if existing else None, incoming.alert, now)
    merged = incoming.model_copy(update={"alert": applied.state, "change": applied.change or incoming.change})
    encoded = wire.encode(merged)
    # A record redelivered after a rebalance (at-least-once) leaves the state as it was: forward
    # nothing. A sender's genuine re-send carries a new updated_at, so it still counts.
    replayed = existing is not None and applied.state == existing.alert
    forward = encoded if applied.change and not replayed else None
    return DedupOutcome(incoming.alert.fingerprint.encode(), encoded, forward)


COLLECT = b""  # overdue_record's answer for "delete this alert's state"
# Alertmanager's --alerts.gc-interval: its GC drops alerts resolved when it runs, every 30m. Keeping a
# resolved alert that long here changes no decision (a re-send is "resolved", a return is "new"
# either way) and bounds the table to what resolved in the last half hour.
RESOLVED_RETENTION = timedelta(minutes=30)


def overdue_record(stored: bytes, now: datetime) -> bytes | None:
    """What the timer does with a stored alert: its expired state when endsAt passed without an
    update, COLLECT when it has been resolved long enough to forget, else None. Pure."""
    event = wire.decode(AlertEvent, stored)
    if expiry_due(event.alert, now):
        return wire.encode(event.model_copy(update={"alert": expire(event.alert, now), "change": "expired"}))
    if collectable(event.alert, now - RESOLVED_RETENTION):
        return COLLECT
    return None


def run(settings: Settings) -> None:
    from pipeline.stages.app import StageApp

    stage = StageApp("dedup", settings)
    normalized = stage.topic("alerts.normalized")
    deduped = stage.topic("alerts.deduped")
    state_topic = stage.topic("alerts.state")
    states = stage.table("alert_state")

    @stage.app.agent(normalized, name="dedup")
    async def dedup_agent(stream):
        await stage.tables_ready()
        async for event in stream.events():
            outcome = dedup_record(event.value, states.get(event.key), datetime.now(timezone.utc))
            if isinstance(outcome, Rejected):
                await stage.dead_letter(event, outcome)
                continue
            states[outcome.key] = outcome.stored  # reassigned, so the changelog records it
            await state_topic.send(key=outcome.key, value=outcome.stored)
            if outcome.forward is not None:
                await deduped.send(key=outcome.key, value=outcome.forward)

    @stage.app.timer(interval=EXPIRY_SCAN_SECONDS)
    async def expire_overdue():
        # Scans this worker's partitions of the table. Cost grows with active alerts; an index by
        # next expiry (rebuilt on partition assignment) is the next step for 1M-alert tables.
        await stage.tables_ready()
        now = datetime.now(timezone.utc)
        for key, stored in list(states.items()):
            action = overdue_record(stored, now)
            if action is None:
                continue
            if action is COLLECT:
                del states[key]
                await state_topic.send(key=key, value=None)  # tombstone: compaction forgets it too
                continue
            states[key] = action
            await state_topic.send(key=key, value=action)
            await deduped.send(key=key, value=action)

    stage.run()
