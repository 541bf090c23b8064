"""Pure core of the dedup stage: Alertmanager's alert merge, change detection and expiry.

No Kafka, no I/O, no clock: every function takes ``now``.  See
``pipeline.dedup.merge`` for the merge rules and ``pipeline.dedup.store`` for
what is forwarded downstream and why.
"""

from pipeline.dedup.codec import alert_from_state, alert_to_state
from pipeline.dedup.merge import merge, merge_or_replace, overlaps, resolved_at, status_at
from pipeline.dedup.store import (
    AlertStore,
    Applied,
    apply,
    collectable,
    dedup_key,
    expire,
    expiry_due,
    next_expiry,
)

__all__ = [
    "AlertStore",
    "Applied",
    "alert_from_state",
    "alert_to_state",
    "apply",
    "collectable",
    "dedup_key",
    "expire",
    "expiry_due",
    "merge",
    "merge_or_replace",
    "next_expiry",
    "overlaps",
    "resolved_at",
    "status_at",
]
