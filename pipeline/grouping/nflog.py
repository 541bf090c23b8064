"""The notification log: Alertmanager 0.25's nflog and DedupStage.needsUpdate.

One entry per (group key, receiver integration) - Alertmanager's state key is
``groupKey + ":" + receiver/integration/index`` (``nflog_key``) - holding the
hashes of the alerts that were firing and resolved at the last notification
and when it was logged.

Alertmanager hashes an alert's labels only (xxhash, notify.hashAlert), so the
alert fingerprint (FNV over the same bytes) identifies the same alerts; the
sets here hold fingerprints.

Details from the source:

- ``Log`` stamps the entry with the log's clock when the notification went
  out, and keeps an existing entry whose timestamp is newer (clock skew in a
  cluster);
- entries expire at ``timestamp + min(retention, 2 × repeat_interval)``
  (SetNotifiesStage passes ``2*repeatInterval``; retention is
  ``--data.retention``, default 120h; #2982, new in 0.25).  Queries do *not*
  check the expiry: only the periodic maintenance GC
  (``--data.maintenance-interval``, 15m) deletes expired entries.  That
  matters: with repeat_interval below group_interval / 2 (Alertmanager's own
  acceptance tests use 1ms) an entry is expired at the very next flush, yet
  still read.  So the stage must GC on a timer (``expired``,
  ``MAINTENANCE_INTERVAL``), never drop an expired entry when reading it;
- ``needsUpdate`` compares with ``entry.Timestamp.Before(now - repeat)``:
  strict, so with the log stamped at flush time a repeat falls on the first
  tick *after* repeat_interval has passed - with repeat_interval a multiple of
  group_interval, one group_interval later than one might expect (4h05m with
  the defaults).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.dedup.codec import check_aware, datetime_from_state, datetime_to_state

__all__ = [
    "DEFAULT_RETENTION",
    "MAINTENANCE_INTERVAL",
    "NflogEntry",
    "expired",
    "entry_expiry",
    "needs_update",
    "nflog_key",
    "notify_reason",
    "record",
]

#: ``--data.retention`` default.
DEFAULT_RETENTION = timedelta(hours=120)
#: ``--data.maintenance-interval`` default: how often expired entries are deleted.
MAINTENANCE_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True)
class NflogEntry:
    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: datetime
    expires_at: datetime

    def to_state(self) -> dict[str, Any]:
        return {
            "firing": sorted(self.firing),
            "resolved": sorted(self.resolved),
            "timestamp": datetime_to_state(self.timestamp),
            "expires_at": datetime_to_state(self.expires_at),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NflogEntry:
        return cls(
            firing=frozenset(state["firing"]),
            resolved=frozenset(state["resolved"]),
            timestamp=datetime_from_state(state["timestamp"]),
            expires_at=datetime_from_state(state["expires_at"]),
        )


def nflog_key(group_key: str, receiver: str, integration: str = "webhook", index: int = 0) -> str:
    """Alertmanager's nflog state key: ``<group key>:<receiver>/<integration>/<index>``."""
    return f"{group_key}:{receiver}/{integration}/{index}"


def entry_expiry(repeat_interval: timedelta, retention: timedelta = DEFAULT_RETENTION) -> timedelta:
    """How long an entry lives: 2 × repeat_interval, capped at the retention."""
    expiry = 2 * repeat_interval
    if expiry > timedelta(0) and retention > expiry:
        return expiry
    return retention


def expired(entry: NflogEntry, now: datetime) -> bool:
    """Does the maintenance GC running at ``now`` delete ``entry``?  (``!ExpiresAt.After(now)``)

    For the stage's periodic GC only (every ``MAINTENANCE_INTERVAL``): reads
    must keep using an expired entry until then, as Alertmanager does.
    """
    check_aware(now)
    return entry.expires_at <= now


def notify_reason(
    entry: NflogEntry | None,
    firing: Collection[str],
    resolved: Collection[str],
    repeat_interval: timedelta,
    send_resolved: bool,
    now: datetime,
) -> str | None:
    """Why ``needs_update`` is true (the reasons Alertmanager 0.28 logs), or None."""
    check_aware(now)
    if entry is None:
        # Notify right away unless we only have resolved alerts.
        return "first notification" if firing else None
    if not entry.firing.issuperset(firing):
        return "new alerts added"
    if not firing:
        # Done irrespective of send_resolved, so the firing alerts leave the log.
        # If the last notification had no firing alert either, the receiver
        # never heard of what fired and resolved in between.
        return "all alerts resolved" if entry.firing else None
    if send_resolved and not entry.resolved.issuperset(resolved):
        return "some alerts resolved"
    # Nothing changed: only notify once the repeat interval has passed.
    if entry.timestamp < now - repeat_interval:
        return "repeat interval elapsed"
    return None


def needs_update(
    entry: NflogEntry | None,
    firing: Collection[str],
    resolved: Collection[str],
    repeat_interval: timedelta,
    send_resolved: bool,
    now: datetime,
) -> bool:
    """DedupStage.needsUpdate: should this flush notify the integration?"""
    return notify_reason(entry, firing, resolved, repeat_interval, send_resolved, now) is not None


def record(
    entry: NflogEntry | None,
    firing: Collection[str],
    resolved: Collection[str],
    now: datetime,
    repeat_interval: timedelta,
    retention: timedelta = DEFAULT_RETENTION,
) -> NflogEntry:
    """nflog.Log after a notification went out at ``now`` (SetNotifiesStage).

    An existing entry stamped after ``now`` is kept as it is.
    """
    check_aware(now)
    if entry is not None and entry.timestamp > now:
        return entry
    return NflogEntry(
        firing=frozenset(firing),
        resolved=frozenset(resolved),
        timestamp=now,
        expires_at=now + entry_expiry(repeat_interval, retention),
    )
