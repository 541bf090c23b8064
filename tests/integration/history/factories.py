"""Records as the pipeline writes them, for the history tests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from pipeline.fingerprint import alert_fingerprint
from pipeline.history.records import DeliveryOutcome
from pipeline.models import Alert, Classification, EnrichedAlert, Link, Notification, RouteMatch
from pipeline.stages.processor import Record

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)


def enriched(labels: dict[str, str], change: str = "new", at: datetime = T0, *, annotations=None,
             receiver: str = "team-db", priority: str = "P2", silenced_by=(), ends_at=None) -> EnrichedAlert:
    labels = {"alertname": "DiskFull", **labels}
    status = "resolved" if change in ("resolved", "expired") else "firing"
    alert = Alert(fingerprint=alert_fingerprint(labels), labels=labels, annotations=annotations or {"summary": "disk"},
                  starts_at=at, ends_at=ends_at if ends_at is not None else (at if status == "resolved" else at + timedelta(minutes=5)),
                  status=status, updated_at=at)
    return EnrichedAlert(
        alert=alert, source="prometheus", source_format="alertmanager-v2", received_at=at, change=change,
        classification=Classification(priority=priority, team=labels.get("team", ""), classified_by="rules"),
        links=[Link(title="runbook", url="https://runbooks/disk")],
        routes=[RouteMatch(receiver=receiver, route_key="{}/{team=\"db\"}", group_key="{}:{alertname=\"DiskFull\"}",
                           group_labels={"alertname": labels["alertname"]})],
        silenced_by=list(silenced_by), state="suppressed" if silenced_by else "active",
    )


def notification(alerts: list[EnrichedAlert], *, nid: str = "n1", receiver: str = "team-db",
                 at: datetime = T0, status: str = "firing", flush_seq: int = 1) -> Notification:
    return Notification(id=nid, receiver=receiver, status=status, group_key="{}:{alertname=\"DiskFull\"}",
                        group_labels={"alertname": "DiskFull"}, alerts=[a.alert for a in alerts],
                        flush_seq=flush_seq, created_at=at, integration="webhook/0")


def outcome(nid: str = "n1", outcome: str = "delivered", attempt: int = 1, at: datetime = T0,
            receiver: str = "team-db", error: str = "") -> DeliveryOutcome:
    return DeliveryOutcome(notification_id=nid, receiver=receiver, integration="webhook/0",
                           group_key="{}:{alertname=\"DiskFull\"}", outcome=outcome, attempt=attempt,
                           error=error, at=at, status_code=200 if outcome == "delivered" else 503)


def record(value, port: str = "") -> Record:
    return Record(key=None, value=value, port=port)


def flapping_series(labels: dict[str, str], flips: int, start: datetime = T0, step=timedelta(minutes=1)):
    """An alert firing and resolving ``flips`` times in a row (new, resolved, new, ...)."""
    out = []
    for i in range(flips):
        out.append(enriched(labels, "new" if i % 2 == 0 else "resolved", start + i * step))
    return out


def load(history, values, now: datetime) -> None:
    """Write ``values`` through the history stage's processor into ``history``'s database (each one
    accepted), then flush and close it."""
    from pipeline.stages.history import HistoryProcessor

    async def run() -> None:
        processor = HistoryProcessor(history)
        for value in values:
            assert await processor.process(record(value), {}, now) == ()
        await processor.flush()
        await processor.aclose()
    asyncio.run(run())

