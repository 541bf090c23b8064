"""mute: alerts.classified → alerts.muted, each alert with its silence and inhibition state.

This is the state Alertmanager's API shows (silencedBy, inhibitedBy, status.state) at the moment the
alert changed; nothing is dropped here. Whether a notification is muted is decided again at flush
time by the group stage, as Alertmanager's notify pipeline does, because silences and inhibiting
alerts come and go between an alert's updates.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pipeline import wire
from pipeline.dead_letters import Rejected
from pipeline.models import EnrichedAlert, replace
from pipeline.muting.view import MutingView
from pipeline.settings import Settings


def mute_record(value: bytes | None, view: MutingView, now: datetime) -> tuple[bytes, bytes] | Rejected:
    """(fingerprint, the alert annotated with its muting) for one classified alert. Pure."""
    try:
        event = wire.decode(EnrichedAlert, value)
    except wire.WireError as exc:
        return Rejected("WireError", str(exc))
    alert = event.alert
    if alert.is_resolved_at(now):
        # Alertmanager's marker forgets resolved alerts: they are neither silenced nor inhibited.
        annotated = replace(event, silenced_by=[], inhibited_by=[], state="unprocessed")
    else:
        muting = view.muting(alert.labels, now)
        annotated = replace(
            event, silenced_by=muting.silenced_by, inhibited_by=muting.inhibited_by,
            state="suppressed" if muting.muted else "active")
    return alert.fingerprint.encode(), wire.encode(annotated)


def run(settings: Settings) -> None:
    from pipeline.alertmanager_config import load_alertmanager_config
    from pipeline.runtime.app import StageApp
    from pipeline.runtime.follower import TopicFollower, wait_until_caught_up

    config = load_alertmanager_config(settings.alertmanager_config)
    view = MutingView.from_config(config)
    stage = StageApp("mute", settings)
    classified = stage.topic("alerts.classified")
    follower = TopicFollower(settings, view.topics, "mute")

    muted = settings.topic("alerts.muted")

    def handle(_key, value):
        outcome = mute_record(value, view, datetime.now(timezone.utc))
        if isinstance(outcome, Rejected):
            return outcome
        return [(muted, *outcome, None)]

    @stage.app.agent(classified, name="mute")
    async def mute_agent(stream):
        if not follower.caught_up.is_set():
            await wait_until_caught_up(follower, "mute")
        async for event in stream.noack().events():
            view.apply_all(follower.drain())
            await stage.process(event, handle)

    @stage.app.timer(interval=60.0)
    async def collect_garbage():
        view.apply_all(follower.drain())
        view.gc(datetime.now(timezone.utc))

    @stage.app.task
    async def start_follower():
        follower.start()

    stage.run()
