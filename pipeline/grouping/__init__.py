"""Pure core of the grouping stage: aggregation groups, notification log, notifications.

Mirrors Alertmanager 0.25's dispatch.aggrGroup, nflog and the notify pipeline's
DedupStage/RetryStage/SetNotifiesStage plus the webhook payload.  No Kafka,
no I/O, no clock: every transition takes ``now``; every state object
round-trips through plain JSON-able dicts (``to_state``/``from_state``).

How a stage drives it, per (route, group key)::

    group = AggregationGroup.new(group_key, route_key, group_labels, timing, now)  # first alert
    group.insert(alert, now)                     # every forwarded dedup event
    if group.due(now):                           # the stage's timer
        snapshot = group.flush(now)              # None: empty group, nothing to do
        if snapshot is not None:
            visible = snapshot.only(not_muted)   # silences / inhibition, if any
            for decision in decide_flushes(visible, entries, integrations, now):
                emit(decision.notification)      # when not None
                entries[decision.integration.key] = decision.nflog_entry
            group.notified(snapshot, success=True, now=now)
    if group.empty(): delete it (Alertmanager: every 30 s)
    every 15 min: delete the log entries for which expired(entry, now)
"""

from pipeline.grouping.aggregation import (
    AggregationGroup,
    FlushSnapshot,
    GroupTiming,
    alert_less,
    is_resolved,
    sort_alerts,
)
from pipeline.grouping.nflog import (
    DEFAULT_RETENTION,
    MAINTENANCE_INTERVAL,
    NflogEntry,
    expired,
    entry_expiry,
    needs_update,
    nflog_key,
    notify_reason,
    record,
)
from pipeline.grouping.notification import (
    BuiltNotification,
    FlushDecision,
    Integration,
    build_notification,
    common_pairs,
    decide_flush,
    decide_flushes,
    webhook_receiver_name,
)

__all__ = [
    "DEFAULT_RETENTION",
    "MAINTENANCE_INTERVAL",
    "AggregationGroup",
    "BuiltNotification",
    "FlushDecision",
    "FlushSnapshot",
    "GroupTiming",
    "Integration",
    "NflogEntry",
    "alert_less",
    "build_notification",
    "common_pairs",
    "decide_flush",
    "decide_flushes",
    "entry_expiry",
    "expired",
    "is_resolved",
    "needs_update",
    "nflog_key",
    "notify_reason",
    "record",
    "sort_alerts",
    "webhook_receiver_name",
]
