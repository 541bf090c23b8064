"""From a flush snapshot to the notification Alertmanager's webhook would send.

Per receiver integration, Alertmanager 0.25 runs (notify/notify.go, after the
mute stages): DedupStage → RetryStage → SetNotifiesStage.

- DedupStage splits the alerts into firing and resolved hash sets and asks
  the notification log whether to notify (``nflog.needs_update``).
- RetryStage with ``send_resolved: false`` sends only the firing alerts; with
  none firing it sends nothing but reports success, "so the notification log
  logs them for the next run of DedupStage".
- The webhook truncates to ``max_alerts`` (``truncatedAlerts`` counts the rest)
  and builds template.Data: status "firing" if any alert of the (truncated)
  batch fires; commonLabels/commonAnnotations = the pairs shared by every alert
  of the batch (a missing key reads as "", as a Go map does).
- Beyond Alertmanager: a notification is one Kafka record, so a group too large
  for one is cut to the first alerts that fit ``max_bytes`` and ``truncatedAlerts``
  counts the rest, as ``max_alerts`` does (the notification log still logs every
  alert: the cut ones are not re-sent at the next flush either, as with max_alerts).
- SetNotifiesStage logs the firing and resolved sets - all of them, whatever
  was sent - once the notification succeeded.

``decide_flush`` is that whole chain as one decision; the stage emits the
notification (if any) and, once it is handed off, stores the new log entry.

Two Alertmanager details the caller must know:

- the webhook's ``receiver`` field is ``regexp.QuoteMeta(receiver name)``
  (``webhook_receiver_name``); ``Notification.receiver`` keeps the plain name;
- a receiver may hold several integrations (several webhook_configs), each
  with its own log entry and send_resolved.  Their notifications of one flush
  must not share an id, so ``decide_flush`` derives the id from the
  integration key ``receiver/name/index`` (``build_notification`` alone uses
  the receiver name unless given ``id_key``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from pipeline.dedup.codec import check_aware
from pipeline.grouping.aggregation import FlushSnapshot
from pipeline.grouping.nflog import DEFAULT_RETENTION, NflogEntry, notify_reason, record
from pipeline.models import Alert, Notification, notification_id

__all__ = [
    "BuiltNotification",
    "FlushDecision",
    "Integration",
    "build_notification",
    "common_pairs",
    "decide_flush",
    "decide_flushes",
    "webhook_receiver_name",
]

_GO_REGEXP_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def webhook_receiver_name(receiver: str) -> str:
    """Go's ``regexp.QuoteMeta``, which template.Data applies to the receiver name."""
    return "".join("\\" + ch if ch in _GO_REGEXP_SPECIAL else ch for ch in receiver)


@dataclass(frozen=True)
class Integration:
    """One notifier of a receiver (Alertmanager's nflog Receiver: name, integration, index)."""

    receiver: str
    send_resolved: bool = True  # the webhook default
    max_alerts: int = 0  # 0: unlimited
    name: str = "webhook"
    index: int = 0

    def __post_init__(self) -> None:
        if self.max_alerts < 0:
            raise ValueError(f"max_alerts must not be negative, got {self.max_alerts}")

    @property
    def key(self) -> str:
        """``receiver/integration/index``, Alertmanager's receiverKey."""
        return f"{self.receiver}/{self.name}/{self.index}"


def common_pairs(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The key/value pairs every map has (template.Data's commonLabels/commonAnnotations)."""
    if not maps:
        return {}
    common = dict(maps[0])
    for other in maps[1:]:
        if not common:
            break
        common = {k: v for k, v in common.items() if other.get(k, "") == v}
    return dict(sorted(common.items()))


class BuiltNotification(NamedTuple):
    """The notification to send (None: nothing to send) and the log's hash sets."""

    notification: Notification | None
    firing: frozenset[str]
    resolved: frozenset[str]


# What a notification record carries besides its alerts (ids, group and common labels, headers),
# bounded: group labels are a subset of each alert's labels, common labels and annotations too.
NOTIFICATION_OVERHEAD_BYTES = 64 * 1024


def _prefix_within(batch: Sequence[Alert], budget: int, size_of: Callable[[Alert], int]) -> int:
    """How many of the first alerts fit in ``budget`` bytes; at least one (a single alert is bounded
    by the record size limit at the edge, far below any notification budget)."""
    total = 0
    for count, alert in enumerate(batch):
        total += size_of(alert)
        if total > budget:
            return max(count, 1)
    return len(batch)


def build_notification(
    snapshot: FlushSnapshot,
    receiver: str,
    *,
    send_resolved: bool = True,
    external_url: str = "",
    max_alerts: int = 0,
    now: datetime,
    id_key: str | None = None,
    integration: str = "",
    max_bytes: int = 0,
    size_of: Callable[[Alert], int] | None = None,
) -> BuiltNotification:
    """What the webhook would send for ``snapshot`` (already restricted to unmuted alerts).

    Group key, route key, group labels and flush sequence come from the
    snapshot; ``Notification.id`` is ``notification_id(group_key, id_key or
    receiver, flush_seq)``.  The hash sets cover every alert of the snapshot,
    sent or not: log them whenever the notification is (considered) sent.
    """
    check_aware(now)
    firing, resolved = snapshot.firing_hashes(), snapshot.resolved_hashes()
    batch: list[Alert] = list(snapshot.alerts)
    if not send_resolved:
        batch = [a for a in batch if a.status == "firing"]
    if not batch:
        return BuiltNotification(None, firing, resolved)
    truncated = 0
    if max_alerts and len(batch) > max_alerts:
        truncated = len(batch) - max_alerts
        batch = batch[:max_alerts]
    if max_bytes and size_of is not None and len(batch) > 1:
        kept = _prefix_within(batch, max_bytes - NOTIFICATION_OVERHEAD_BYTES, size_of)
        truncated += len(batch) - kept
        batch = batch[:kept]
    notification = Notification(
        id=notification_id(snapshot.group_key, id_key or receiver, snapshot.flush_seq),
        receiver=receiver,
        status="firing" if any(a.status == "firing" for a in batch) else "resolved",
        group_key=snapshot.group_key,
        group_labels=dict(sorted(snapshot.group_labels.items())),
        common_labels=common_pairs([a.labels for a in batch]),
        common_annotations=common_pairs([a.annotations for a in batch]),
        external_url=external_url,
        truncated_alerts=truncated,
        alerts=batch,
        flush_seq=snapshot.flush_seq,
        created_at=now,
        route_key=snapshot.route_key,
        integration=integration,
    )
    return BuiltNotification(notification, firing, resolved)


@dataclass(frozen=True)
class FlushDecision:
    """What one flush means for one integration.

    ``notify``: the notification log said yes (``reason`` says why).  Then
    ``notification`` is what to send - None when send_resolved is false and
    nothing fires, which Alertmanager counts as sent - and ``nflog_entry`` the
    entry to store once it is handed off.  Otherwise ``nflog_entry`` is the
    entry given and nothing is sent.
    """

    integration: Integration
    notify: bool
    reason: str | None
    notification: Notification | None
    nflog_entry: NflogEntry | None
    firing: frozenset[str]
    resolved: frozenset[str]


def decide_flush(
    snapshot: FlushSnapshot,
    nflog_entry: NflogEntry | None,
    integration: Integration,
    now: datetime,
    *,
    external_url: str = "",
    retention: timedelta = DEFAULT_RETENTION,
    max_bytes: int = 0,
    size_of: Callable[[Alert], int] | None = None,
) -> FlushDecision:
    """DedupStage → RetryStage (filtering) → SetNotifiesStage for one integration.

    ``snapshot`` is the group's flush restricted to the alerts the mute stages
    let through (``FlushSnapshot.only``); an empty one notifies nothing and
    logs nothing, as Alertmanager's MultiStage stops on no alerts.
    """
    check_aware(now)
    entry = nflog_entry
    firing, resolved = snapshot.firing_hashes(), snapshot.resolved_hashes()
    reason = None
    if snapshot.alerts:
        reason = notify_reason(
            entry, firing, resolved, snapshot.timing.repeat_interval, integration.send_resolved, now
        )
    if reason is None:
        return FlushDecision(integration, False, None, None, entry, firing, resolved)
    built = build_notification(
        snapshot,
        integration.receiver,
        send_resolved=integration.send_resolved,
        external_url=external_url,
        max_alerts=integration.max_alerts,
        now=now,
        id_key=integration.key,
        integration=f"{integration.name}/{integration.index}",
        max_bytes=max_bytes,
        size_of=size_of,
    )
    new_entry = record(entry, firing, resolved, now, snapshot.timing.repeat_interval, retention)
    return FlushDecision(integration, True, reason, built.notification, new_entry, firing, resolved)


def decide_flushes(
    snapshot: FlushSnapshot,
    nflog_entries: Mapping[str, NflogEntry | None],
    integrations: Iterable[Integration],
    now: datetime,
    *,
    external_url: str = "",
    retention: timedelta = DEFAULT_RETENTION,
    max_bytes: int = 0,
    size_of: Callable[[Alert], int] | None = None,
) -> list[FlushDecision]:
    """``decide_flush`` for each integration of the route's receiver.

    ``nflog_entries`` maps ``Integration.key`` to the stored entry of this
    group (missing: none).
    """
    return [
        decide_flush(
            snapshot,
            nflog_entries.get(integration.key),
            integration,
            now,
            external_url=external_url,
            retention=retention,
            max_bytes=max_bytes,
            size_of=size_of,
        )
        for integration in integrations
    ]
