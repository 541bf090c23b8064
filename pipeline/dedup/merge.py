"""Alertmanager's alert merge (types.Alert.Merge) and when the provider applies it.

Alertmanager 0.25, provider/mem ``Alerts.Put``: an incoming alert whose
fingerprint is already stored is merged with the stored one only when their
activity ranges overlap, with this exact (asymmetric, strict) test::

    (new.EndsAt  > old.StartsAt && new.EndsAt  < old.EndsAt) ||
    (new.StartsAt > old.StartsAt && new.StartsAt < old.EndsAt)

Otherwise the incoming alert simply replaces the stored one.  Surprising
consequences, all faithful here:

- the usual Prometheus re-send (same startsAt, endsAt moved forward) does
  *not* overlap by this test and replaces the stored alert - harmless, as
  nothing but endsAt and updatedAt differ;
- an alert re-firing after it resolved (startsAt after the old endsAt) is a
  replacement: a new occurrence, not merged into the old one;
- a stale update whose startsAt equals the stored one also replaces it, even
  if it is older: replacement never compares updatedAt.

``types.Alert.Merge`` (``a.Merge(o)``), with ``o`` the younger by updatedAt
(ties: the incoming one)::

    res := *o                                   // labels, annotations, URL, updatedAt, timeout of o
    if a.StartsAt < o.StartsAt { res.StartsAt = a.StartsAt }   // earliest start
    if o.Resolved() {
        // the latest explicit resolve wins if both are resolved
        if a.Resolved() && a.EndsAt > o.EndsAt { res.EndsAt = a.EndsAt }
    } else if a.EndsAt > o.EndsAt && !a.Timeout {
        res.EndsAt = a.EndsAt                   // a later, sender-given end rules
    }

``Resolved()`` reads the wall clock in Go; here it is evaluated at ``now``.

``ends_at is None`` (an open-ended alert, which Alertmanager never stores: its
API always fills endsAt) is handled so the Go rules keep their meaning:

- in ``merge`` it is Go's zero time - an end nobody knows, "before" every
  real end: a newer open-ended update keeps an older sender-given end, and a
  newer real end replaces an older unknown one;
- in ``overlaps`` it is an end still in the future (+infinity): the alert is
  active, so a later update of it overlaps it.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.dedup.codec import check_aware
from pipeline.models import Alert, AlertStatus, replace

__all__ = ["merge", "merge_or_replace", "overlaps", "resolved_at", "status_at"]


def resolved_at(alert: Alert, now: datetime) -> bool:
    """Alertmanager's ``Alert.ResolvedAt(now)``: endsAt is set and not after ``now``."""
    return alert.ends_at is not None and alert.ends_at <= now


def status_at(alert: Alert, now: datetime) -> AlertStatus:
    """The alert's status at ``now``: resolved when its end has passed.

    A status of "resolved" given by the sender (webhook-style sources) is kept
    even when its end lies ahead.
    """
    if alert.status == "resolved" or resolved_at(alert, now):
        return "resolved"
    return "firing"


def _end_after(x: datetime | None, y: datetime | None) -> bool:
    """Go's ``x.After(y)`` with None as the zero time (before every real time)."""
    if x is None:
        return False
    if y is None:
        return True
    return x > y


def overlaps(old: Alert, new: Alert) -> bool:
    """provider/mem's merge condition: do the activity ranges overlap (strictly)?"""
    old_end, new_end = old.ends_at, new.ends_at
    # An unset end is still ahead: +infinity.
    end_inside = new_end is not None and new_end > old.starts_at and (
        old_end is None or new_end < old_end
    )
    start_inside = new.starts_at > old.starts_at and (old_end is None or new.starts_at < old_end)
    return end_inside or start_inside


def merge(existing: Alert, incoming: Alert, now: datetime) -> Alert:
    """``existing.Merge(incoming)`` evaluated at ``now`` (see the module docstring).

    Symmetric: the younger of the two by ``updated_at`` provides every field
    but the time range.  The result's status is recomputed at ``now``.
    """
    check_aware(now)
    # Let o always be the younger alert; on a tie the incoming one.
    if incoming.updated_at < existing.updated_at:
        a, o = incoming, existing
    else:
        a, o = existing, incoming
    starts_at = a.starts_at if a.starts_at < o.starts_at else o.starts_at
    ends_at = o.ends_at
    if resolved_at(o, now):
        if resolved_at(a, now) and _end_after(a.ends_at, o.ends_at):
            ends_at = a.ends_at
    elif _end_after(a.ends_at, o.ends_at) and not a.timeout:
        ends_at = a.ends_at
    merged = replace(o, starts_at=starts_at, ends_at=ends_at)
    return replace(merged, status=status_at(merged, now))


def merge_or_replace(existing: Alert | None, incoming: Alert, now: datetime) -> Alert:
    """What provider/mem stores for ``incoming``: merged when the ranges overlap, else it."""
    check_aware(now)
    if existing is not None and overlaps(existing, incoming):
        return merge(existing, incoming, now)
    return replace(incoming, status=status_at(incoming, now))
