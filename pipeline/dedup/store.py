"""Per-alert state of the dedup stage: merge, change detection, expiry.

The dedup stage keeps one ``Alert`` per dedup key (by default the
fingerprint) - what Alertmanager's provider/mem keeps - and forwards to the
grouping stage only what can change a notification.

Change rule (``apply``), relative to the stored state, whose ``status`` is
always the status the grouping stage last saw:

=================================  ===============================================
stored → result (status at now)    change
=================================  ===============================================
none → firing                      "new"
none → resolved                    "resolved" (Alertmanager groups it too)
resolved → firing                  "new" (a new occurrence)
resolved → resolved                "resolved" (a re-send; see below)
firing → resolved                  "resolved"
firing → firing, payload changed   "updated": annotations, startsAt, generatorURL
                                   (the fields a notification shows)
firing → firing, otherwise         None: nothing downstream needs it
=================================  ===============================================

``expire`` adds the last transition: firing → resolved when the stored endsAt
passes without an update (change "expired").

Why dropping the firing → firing refresh is safe.  Prometheus re-sends every
firing alert every ``resend_delay`` with endsAt moved forward; Alertmanager
re-inserts it into its aggregation group each time.  The group uses a firing
alert's endsAt for one thing only: to see it resolve at a flush once endsAt
has passed.  The webhook payload clears endsAt of firing alerts, and dedup
(the notification log) hashes labels only.  So the grouping stage here does
not read endsAt to decide resolution: it trusts ``status``, and resolution
always reaches it as an event - "resolved" when an update ends the alert,
"expired" from this stage's expiry timer when endsAt passes silently (a
stale endsAt in the group's copy is therefore harmless).  The expiry event
must be emitted before the group's next flush tick to land in the same batch
as in Alertmanager: run the expiry timer at a finer step than group_interval
(``next_expiry`` tells when).

Two Alertmanager effects of the refresh are knowingly dropped:

- a refresh can trigger a not-yet-flushed group's immediate first flush
  (``startsAt + group_wait < now`` at insert time) when the alert started less
  than group_wait before its first insert and the group waits longer than the
  refresh period; the group then flushes at creation + group_wait instead, as
  it would without that alert;
- a refresh bumps the group copy's updatedAt, which only matters for resolved
  alerts (and resolved re-sends *are* forwarded, for this reason: Alertmanager
  re-inserts them, so a resolved alert re-sent after its resolved
  notification reappears in the group's next payload and keeps the group
  alive - and therefore without group_wait for a new alert).

Identity: with a custom dedup key (label subset), alerts with different label
sets share one state.  The stored labels/fingerprint stay those of the first
alert of the current occurrence while it fires, so the grouping stage sees one
alert that eventually resolves; a new occurrence (after resolution) takes the
incoming alert's labels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from pipeline.dedup.codec import alert_from_state, alert_to_state, check_aware
from pipeline.dedup.merge import merge_or_replace
from pipeline.fingerprint import alert_fingerprint
from pipeline.models import Alert, Change, replace

__all__ = [
    "AlertStore",
    "Applied",
    "apply",
    "collectable",
    "dedup_key",
    "expire",
    "expiry_due",
    "next_expiry",
]


class Applied(NamedTuple):
    """Result of ``apply``: the state to store and the change to forward (None: forward nothing)."""

    state: Alert
    change: Change | None

    @property
    def forward(self) -> bool:
        return self.change is not None


def dedup_key(alert: Alert, label_names: tuple[str, ...] | None = None) -> str:
    """The key the dedup stage stores ``alert`` under.

    Default: the fingerprint (Alertmanager's identity).  With ``label_names``:
    a stable hash of those labels only - the fingerprint algorithm over the
    named labels the alert has (a missing label counts as empty, as in
    Alertmanager matchers).  The name order does not matter.
    """
    if label_names is None:
        return alert.fingerprint
    if not label_names:
        raise ValueError("dedup label names must not be empty (use None for the fingerprint)")
    return alert_fingerprint({name: alert.labels[name] for name in label_names if alert.labels.get(name)})


def _payload_changed(old: Alert, new: Alert) -> bool:
    # What a notification shows of a firing alert (endsAt is cleared there).
    return (
        old.annotations != new.annotations
        or old.starts_at != new.starts_at
        or old.generator_url != new.generator_url
        or old.labels != new.labels
    )


def apply(existing: Alert | None, incoming: Alert, now: datetime) -> Applied:
    """Store ``incoming`` over ``existing`` (same dedup key) as of ``now``; see the module docstring."""
    check_aware(now)
    if existing is not None and existing.status == "firing" and existing.fingerprint != incoming.fingerprint:
        # Same dedup key, other labels: the running occurrence keeps its identity.
        incoming = replace(incoming, labels=existing.labels, fingerprint=existing.fingerprint)
    state = merge_or_replace(existing, incoming, now)
    change: Change | None
    if state.status == "resolved":
        change = "resolved"
    elif existing is None or existing.status == "resolved":
        change = "new"
    elif _payload_changed(existing, state):
        change = "updated"
    else:
        change = None
    return Applied(state, change)


def expiry_due(state: Alert, now: datetime) -> bool:
    """Has a firing alert's endsAt passed without an update resolving it?"""
    check_aware(now)
    return state.status == "firing" and state.ends_at is not None and state.ends_at <= now


def next_expiry(state: Alert) -> datetime | None:
    """When ``expiry_due`` becomes true, if it can (for the stage's timer)."""
    return state.ends_at if state.status == "firing" else None


def expire(state: Alert, now: datetime) -> Alert:
    """The state once its endsAt has passed: resolved (forward it as change "expired").

    Nothing else changes - updatedAt included: Alertmanager has no event
    here, the alert simply reads as resolved from endsAt on.
    """
    if not expiry_due(state, now):
        raise ValueError(f"alert {state.fingerprint} is not due to expire at {now.isoformat()}")
    return replace(state, status="resolved")


def collectable(state: Alert, now: datetime) -> bool:
    """May the stage drop this state?  Alertmanager's alert GC (``--alerts.gc-interval``,
    30m) deletes every alert resolved at GC time; a later update then counts as new.
    """
    check_aware(now)
    return state.status == "resolved" and state.ends_at is not None and state.ends_at <= now


class AlertStore:
    """The dedup stage's table as one object: states by dedup key.

    The Faust stage keeps the same states in a table (one ``alert_to_state``
    dict per key) and calls the module functions; this class is the reference
    use of them and what the simulations drive.
    """

    def __init__(self, dedup_labels: tuple[str, ...] | None = None) -> None:
        self.dedup_labels = tuple(dedup_labels) if dedup_labels is not None else None
        self._states: dict[str, Alert] = {}

    def key(self, alert: Alert) -> str:
        return dedup_key(alert, self.dedup_labels)

    def get(self, key: str) -> Alert | None:
        return self._states.get(key)

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._states))

    def apply(self, incoming: Alert, now: datetime) -> Applied:
        key = self.key(incoming)
        applied = apply(self._states.get(key), incoming, now)
        self._states[key] = applied.state
        return applied

    def expire_due(self, now: datetime) -> list[Alert]:
        """Expire every state due at ``now``; the expired states, by key (forward as "expired")."""
        expired = []
        for key in sorted(self._states):
            state = self._states[key]
            if expiry_due(state, now):
                self._states[key] = expire(state, now)
                expired.append(self._states[key])
        return expired

    def next_expiry(self) -> datetime | None:
        times = [t for t in map(next_expiry, self._states.values()) if t is not None]
        return min(times, default=None)

    def collect_garbage(self, now: datetime) -> list[str]:
        """Drop the resolved states (Alertmanager's periodic alert GC); the keys dropped."""
        dropped = [key for key in sorted(self._states) if collectable(self._states[key], now)]
        for key in dropped:
            del self._states[key]
        return dropped

    def to_state(self) -> dict[str, Any]:
        return {
            "dedup_labels": list(self.dedup_labels) if self.dedup_labels is not None else None,
            "alerts": {key: alert_to_state(self._states[key]) for key in sorted(self._states)},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AlertStore:
        labels = state.get("dedup_labels")
        store = cls(tuple(labels) if labels is not None else None)
        store._states = {key: alert_from_state(value) for key, value in state["alerts"].items()}
        return store
