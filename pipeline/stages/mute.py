"""mute: classified alerts → the same alerts with their silence and inhibition state.

This is the state Alertmanager's API shows (silencedBy, inhibitedBy, status.state) at the moment the
alert changed; nothing is dropped here. Whether a notification is muted is decided again at flush
time by the group stage, as Alertmanager's notify pipeline does, because silences and inhibiting
alerts come and go between an alert's updates.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.models import EnrichedAlert, replace
from pipeline.muting.view import GC_INTERVAL, MutingView
from pipeline.stages.processor import Emit, Processor, Record


def mute_record(event: EnrichedAlert, view: MutingView, now: datetime) -> EnrichedAlert:
    """The alert annotated with its muting at ``now``. Pure."""
    alert = event.alert
    if alert.is_resolved_at(now):
        # Alertmanager's marker forgets resolved alerts: they are neither silenced nor inhibited.
        return replace(event, silenced_by=[], inhibited_by=[], state="unprocessed")
    muting = view.muting(alert.labels, now)
    return replace(event, silenced_by=muting.silenced_by, inhibited_by=muting.inhibited_by,
                   state="suppressed" if muting.muted else "active")


class MuteProcessor(Processor):
    STAGE = "mute"
    OUTPUTS = ("muted",)
    READS = ("silences", "alert_states")
    TICK_INTERVAL_S = 60.0  # the view's garbage collection

    def __init__(self, view: MutingView):
        self.view = view
        self.READS = view.ports  # alert states only when an inhibit rule needs sources
        self._collected: datetime | None = None

    @classmethod
    def from_settings(cls, settings, topology) -> MuteProcessor:
        from pipeline.alertmanager_config import load_alertmanager_config

        return cls(MutingView.from_config(load_alertmanager_config(settings.alertmanager_config)))

    def follow(self, port: str, key: bytes | None, value: bytes | None) -> None:
        self.view.apply(port, key, value)

    def process(self, record: Record, state, now: datetime):
        muted = mute_record(record.value, self.view, now)
        return (Emit("muted", muted.alert.fingerprint.encode(), muted),)

    def tick(self, state, now: datetime):
        if self._collected is None or now - self._collected >= GC_INTERVAL:
            self.view.gc(now)
            self._collected = now
        return ()
