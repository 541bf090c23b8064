"""The Alertmanager API's materialized view: every silence and every active alert, kept in memory.

Fed from two topics, read whole (every partition, from the beginning, no consumer group commits) by a
background thread (:class:`~pipeline.runtime.follower.TopicFollower`, applying records in its thread),
so every bridge process and replica sees everything:

* ``silences`` (compacted, key = silence id): the latest record per id; a tombstone deletes.
* ``alerts.enriched`` (key = fingerprint): the latest :class:`~pipeline.models.EnrichedAlert` per
  fingerprint. A resolved alert leaves the active view, as Alertmanager's API hides resolved alerts;
  an alert whose ``endsAt`` passes without a new record is hidden at query time.

Silenced/inhibited state is *not* taken from the records: like Alertmanager's ``setAlertStatus``, it
is recomputed at query time from the view's silences (:class:`~pipeline.muting.silences.Silencer`)
and the view's alerts as inhibition sources (:class:`~pipeline.muting.inhibition.Inhibitor` with the
configuration's ``inhibit_rules``). Receivers come from the loaded configuration's route tree, as
Alertmanager's API matches ``api.route`` per alert.

Thread safety: the follower thread applies records under ``lock``; handlers query under it too.
``ready`` is set once the follower has read up to the end offsets it saw at start (readiness gate).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.amconfig import AlertmanagerConfig
from pipeline.models import Alert, EnrichedAlert, Silence
from pipeline.muting.inhibition import InhibitRule, Inhibitor
from pipeline.muting.silences import DEFAULT_RETENTION, SilenceError, Silencer
from pipeline.routing import Route

log = logging.getLogger(__name__)

SILENCES_TOPIC = "silences"
ALERTS_TOPIC = "alerts.enriched"
# Alertmanager garbage-collects resolved inhibition sources every 15 minutes.
INHIBITOR_GC_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """Alertmanager's types.AlertStatus as the API shows it."""

    state: str  # active | suppressed | unprocessed
    silenced_by: list[str]
    inhibited_by: list[str]


@dataclass(slots=True)
class ViewAlert:
    alert: Alert
    routes: list[Route]  # the route tree's matches for the labels (labels define the fingerprint)

    @property
    def receivers(self) -> list[str]:
        return [route.receiver for route in self.routes]


class ApiView:
    """Silences and active alerts, with Alertmanager's query-time status."""

    def __init__(self, config: AlertmanagerConfig, retention: timedelta = DEFAULT_RETENTION) -> None:
        self.config = config
        self.route = config.routing_tree()
        self.retention = retention
        self.lock = threading.RLock()
        self.ready = threading.Event()
        self.silencer = Silencer()
        self.inhibitor = Inhibitor(
            InhibitRule(r.source_matchers, r.target_matchers, tuple(r.equal)) for r in config.inhibit_rules
        )
        self._alerts: dict[str, ViewAlert] = {}
        self._last_gc = datetime.now(timezone.utc)
        self.skipped = 0  # unreadable records (logged, never fatal)
        self.applied = 0

    # -- updates (the follower thread; tests call them directly) -------------------------------
    def apply_silence(self, key: str | None, silence: Silence | None) -> None:
        with self.lock:
            self.applied += 1
            if silence is None:
                if key is not None:
                    self.silencer.remove(key)
                return
            try:
                self.silencer.upsert(silence)
            except SilenceError as exc:  # matchers that do not compile: never written by our API
                self.skipped += 1
                log.warning("skipping silence %s: %s", silence.id, exc)

    def apply_alert(self, key: str | None, record: EnrichedAlert | None) -> None:
        with self.lock:
            self.applied += 1
            if record is None:
                if key is not None:
                    self._alerts.pop(key, None)
                return
            alert = record.alert
            # Every alert is a possible inhibition source, resolved ones included (they stop
            # inhibiting at once); Alertmanager's inhibitor subscribes to all alerts likewise.
            self.inhibitor.observe(alert)
            if alert.status == "resolved":
                self._alerts.pop(alert.fingerprint, None)
            else:
                entry = self._alerts.get(alert.fingerprint)
                if entry is None:
                    self._alerts[alert.fingerprint] = ViewAlert(alert, self.route.match(alert.labels))
                else:
                    entry.alert = alert
            now = datetime.now(timezone.utc)
            if now - self._last_gc >= INHIBITOR_GC_INTERVAL:
                self._gc(now)

    def apply_raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """One record as read from Kafka (``topic`` is the declared name, without prefix)."""
        text_key = key.decode("utf-8", "replace") if key is not None else None
        try:
            if topic == SILENCES_TOPIC:
                self.apply_silence(text_key, None if value is None else wire.decode(Silence, value))
            elif topic == ALERTS_TOPIC:
                self.apply_alert(text_key, None if value is None else wire.decode(EnrichedAlert, value))
            else:
                raise ValueError(f"the API view does not follow {topic!r}")
        except wire.WireError as exc:
            with self.lock:
                self.skipped += 1
            log.warning("skipping unreadable %s record %r: %s", topic, key, exc)

    def _gc(self, now: datetime) -> None:
        self._last_gc = now
        self.inhibitor.gc(now)
        for silence in [s for s in self.silencer if self.garbage(s, now)]:
            self.silencer.remove(silence.id)
        for fp in [fp for fp, e in self._alerts.items() if e.alert.is_resolved_at(now)]:
            del self._alerts[fp]

    # -- queries (callers hold ``lock`` for consistent multi-step reads) ---------------------------
    def silence(self, silence_id: str, now: datetime | None = None) -> Silence | None:
        """The stored silence, or None (also once it is garbage: past ``endsAt + retention``)."""
        with self.lock:
            found = self.silencer.get(silence_id)
        if found is None or self.garbage(found, now or datetime.now(timezone.utc)):
            return None
        return found

    def silences(self, now: datetime) -> list[Silence]:
        with self.lock:
            return [s for s in self.silencer if not self.garbage(s, now)]

    def garbage(self, silence: Silence, now: datetime) -> bool:
        """silences.is_garbage (``endsAt + retention <= now``) without overflowing near year 9999."""
        return silence.ends_at <= now - self.retention

    def alerts(self, now: datetime) -> Iterator[ViewAlert]:
        """Alerts not resolved at ``now`` (Alertmanager: ``EndsAt`` zero or not before now).

        Caller holds ``lock`` while iterating."""
        for entry in list(self._alerts.values()):
            ends_at = entry.alert.ends_at
            if ends_at is not None and ends_at < now:
                continue
            yield entry

    def status(self, labels: dict[str, str], now: datetime) -> AlertStatus:
        """``setAlertStatus`` then ``getAlertStatus``: inhibitor and silencer recomputed now."""
        inhibited_by = self.inhibitor.inhibited_by(labels, now)
        silenced_by = self.silencer.silenced_by(labels, now)
        state = "suppressed" if silenced_by or inhibited_by else "active"
        return AlertStatus(state, silenced_by, inhibited_by)

    def holds(self, silence: Silence) -> bool:
        """Whether the view has read ``silence`` (or a later update of it): read-your-writes."""
        with self.lock:
            seen = self.silencer.get(silence.id)
        return seen is not None and seen.updated_at >= silence.updated_at

    def __len__(self) -> int:
        return len(self._alerts)
