"""Silences and inhibition sources as one view, fed from the `silences` and `alerts.state` topics.

The mute stage annotates alerts with it; the group stage asks it at flush time, as Alertmanager's
notify pipeline does. Pure: records in (handed over by the runtime through the processors' ``follow``), answers out.

Inhibition sources come from alerts.state, the dedup stage's merged view of every alert. Its labels
are the sender's after relabeling, before classification: an inhibit rule cannot match on labels the
classify stage adds (priority, team). Alertmanager has no classification, so configurations written
for it are unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from pipeline import wire
from pipeline.models import AlertEvent, Silence
from pipeline.muting.inhibition import InhibitRule, Inhibitor
from pipeline.muting.silences import SilenceError, Silencer

log = logging.getLogger(__name__)

# The view's ports: the topology maps them to topics (the `reads` of the mute and group stages).
SILENCES = "silences"
ALERT_STATES = "alert_states"


@dataclass(frozen=True)
class Muting:
    silenced_by: list[str]
    inhibited_by: list[str]

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)


class MutingView:
    @classmethod
    def from_config(cls, config) -> MutingView:
        """From a loaded Alertmanager configuration (pipeline.amconfig)."""
        return cls(InhibitRule(r.source_matchers, r.target_matchers, tuple(r.equal)) for r in config.inhibit_rules)

    def __init__(self, inhibit_rules: Iterable[InhibitRule]):
        self.silencer = Silencer()
        self.inhibitor = Inhibitor(inhibit_rules)
        self.skipped = 0  # unreadable records, logged and counted, never fatal

    @property
    def ports(self) -> tuple[str, ...]:
        """What to follow: alert states only when some inhibit rule needs sources."""
        return (SILENCES, ALERT_STATES) if self.inhibitor.rules else (SILENCES,)

    def apply(self, port: str, key: bytes | None, value: bytes | None) -> None:
        if port == SILENCES:
            self._apply_silence(key, value)
        elif port == ALERT_STATES:
            self._apply_alert(value)
        else:
            raise ValueError(f"MutingView does not follow {port!r}")

    def apply_all(self, records: Iterable) -> int:
        count = 0
        for record in records:
            self.apply(record.topic, record.key, record.value)
            count += 1
        return count

    def _apply_silence(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:  # tombstone: the silence was garbage-collected
            if key is not None:
                self.silencer.remove(key.decode("utf-8", "replace"))
            return
        try:
            self.silencer.upsert(wire.decode(Silence, value))
        except (wire.WireError, SilenceError) as exc:
            self.skipped += 1
            log.warning("skipping unreadable silence %r: %s", key, exc)

    def _apply_alert(self, value: bytes | None) -> None:
        if value is None:  # tombstone: dedup forgot a long-resolved alert; gc drops resolved sources
            return
        if not self.inhibitor.rules:
            return
        # Every alert's state passes here, few are inhibition sources: read the labels with orjson
        # and build the model only for those (dedup writes JSON; Avro records take the full path).
        if value[:1] == b"{":
            try:
                alert = orjson.loads(value)["alert"]
                fingerprint, labels, ends_at = alert["fingerprint"], alert["labels"], alert.get("ends_at")
                if not self.inhibitor.concerns(fingerprint, labels):
                    return
                self.inhibitor.observe_fields(fingerprint, labels,
                                              datetime.fromisoformat(ends_at) if ends_at else None)
                return
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                pass  # not what dedup writes: let the full decode say what is wrong
        try:
            event = wire.decode(AlertEvent, value)
        except wire.WireError as exc:
            self.skipped += 1
            log.warning("skipping unreadable alert state: %s", exc)
            return
        self.inhibitor.observe(event.alert)

    def muting(self, labels: Mapping[str, str], now: datetime) -> Muting:
        # Alertmanager checks inhibition first, then silences; both lists are reported.
        return Muting(silenced_by=self.silencer.silenced_by(labels, now),
                      inhibited_by=self.inhibitor.inhibited_by(labels, now))

    def gc(self, now: datetime) -> None:
        """Forget resolved sources and long-expired silences (Alertmanager: every 15 minutes)."""
        self.inhibitor.gc(now)
        self.silencer.gc(now)


GC_INTERVAL = timedelta(minutes=15)
