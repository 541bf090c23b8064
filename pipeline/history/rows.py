"""Records to history rows: pure functions, no I/O.

Each row carries its natural key, so a replayed or duplicated record produces the same key and the
writer stores it once:

- an alert change: ``(fingerprint, at, change)`` with ``at`` the alert's ``updated_at`` — or its
  ``ends_at`` for ``expired``, since dedup keeps ``updated_at`` when it expires an alert;
- a notification: its ``id`` (stable across replayed flushes);
- a delivery outcome: ``(notification_id, attempt, outcome)``.

Records are read through attributes only, so this works for pydantic models and msgspec Structs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.history.records import MAX_ERROR_CHARS

CHANGES = ("new", "updated", "resolved", "expired")

# Column order of the staging COPYs; pipeline.history.writer names the same columns.
CHANGE_COLUMNS = (
    "at", "fingerprint", "change", "status", "alertname", "team", "priority", "state", "labels",
    "annotations", "starts_at", "ends_at", "received_at", "source", "generator_url", "silenced_by",
    "inhibited_by", "receivers", "routes", "classification", "links",
)
NOTIFICATION_COLUMNS = (
    "id", "created_at", "receiver", "integration", "status", "group_key", "route_key", "group_labels",
    "common_labels", "flush_seq", "alert_count", "truncated_alerts", "fingerprints",
)
OUTCOME_COLUMNS = (
    "at", "notification_id", "attempt", "outcome", "receiver", "integration", "group_key", "error",
    "retry_tier", "status_code",
)


class RowError(ValueError):
    """A record that cannot become a history row; the message is the dead-letter reason."""


@dataclass(frozen=True, slots=True)
class ChangeRow:
    key: tuple[str, datetime, str]
    values: tuple[Any, ...]

    @property
    def at(self) -> datetime:
        return self.key[1]


@dataclass(frozen=True, slots=True)
class NotificationRow:
    key: str
    at: datetime
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    key: tuple[str, int, str]
    at: datetime
    values: tuple[Any, ...]


def change_time(alert: Any, change: str) -> datetime:
    if change == "expired" and alert.ends_at is not None:
        return alert.ends_at
    return alert.updated_at


def change_row(record: Any) -> ChangeRow:
    """The row of one EnrichedAlert of alerts.enriched."""
    alert, change = record.alert, record.change
    if change not in CHANGES:
        raise RowError(f"alerts.enriched record of {alert.fingerprint} has change {change!r}; "
                       f"expected one of {', '.join(CHANGES)}")
    at = change_time(alert, change)
    labels = dict(alert.labels)
    classification = record.classification
    priority = classification.priority if classification is not None else labels.get("priority")
    team = (classification.team if classification is not None and classification.team else labels.get("team", ""))
    routes = [{"receiver": r.receiver, "route_key": r.route_key, "group_key": r.group_key,
               "group_labels": dict(r.group_labels)} for r in record.routes]
    receivers = sorted({r.receiver for r in record.routes})
    classification_json = None
    if classification is not None:
        classification_json = {
            "priority": classification.priority, "category": classification.category,
            "team": classification.team, "tags": list(classification.tags),
            "auto_incident": classification.auto_incident, "classified_by": classification.classified_by,
            "confidence": classification.confidence, "reason": classification.reason,
        }
    links = [{"title": link.title, "url": link.url} for link in record.links]
    values = (
        at, alert.fingerprint, change, alert.status, labels.get("alertname", ""), team, priority,
        record.state, labels, dict(alert.annotations), alert.starts_at, alert.ends_at, record.received_at,
        record.source, alert.generator_url or "", list(record.silenced_by), list(record.inhibited_by),
        receivers, routes, classification_json, links,
    )
    return ChangeRow((alert.fingerprint, at, change), values)


def notification_row(notification: Any) -> NotificationRow:
    fingerprints = sorted({alert.fingerprint for alert in notification.alerts})
    values = (
        notification.id, notification.created_at, notification.receiver, notification.integration,
        notification.status, notification.group_key, notification.route_key,
        dict(notification.group_labels), dict(notification.common_labels), notification.flush_seq,
        len(notification.alerts) + notification.truncated_alerts, notification.truncated_alerts, fingerprints,
    )
    return NotificationRow(notification.id, notification.created_at, values)


def outcome_row(outcome: Any) -> OutcomeRow:
    values = (
        outcome.at, outcome.notification_id, outcome.attempt, outcome.outcome, outcome.receiver,
        outcome.integration, outcome.group_key, outcome.error[:MAX_ERROR_CHARS], outcome.retry_tier,
        outcome.status_code,
    )
    return OutcomeRow((outcome.notification_id, outcome.attempt, outcome.outcome), outcome.at, values)
