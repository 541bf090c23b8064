"""group: alerts.routed → notifications, through aggregation groups and the notification log.

The semantics are pipeline.grouping (Alertmanager's dispatcher, aggregation groups, nflog and the
webhook payload); this module only wires them to Kafka:

- the agent inserts each routed alert into its group (state in the aggregation_groups table);
- a timer ticks every ``group.tick_s``, flushes the groups that are due, mutes at flush time with
  the silences and inhibition sources it follows (every partition of `silences` and `alerts.state`),
  sends one notification per (group, integration) and waits for the broker's ack, then stores the
  groups and the notification log (see pipeline.grouping.dispatcher for why in that order);
- groups live in memory for the partitions this worker owns; when the assignment changes the worker
  reloads them from its tables, so a restarted or rebalanced worker flushes exactly what was pending,
  when it was due.

Nothing is flushed before the followed topics were read to their end: a restarted worker must know
every silence before it decides a notification is not muted.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from pipeline import wire
from pipeline.dead_letters import Rejected
from pipeline.grouping.dispatcher import GROUPS_TABLE, NFLOG_TABLE, Dispatcher, UnknownRoute
from pipeline.grouping.nflog import MAINTENANCE_INTERVAL
from pipeline.models import Alert, EnrichedAlert
from pipeline.muting.view import GC_INTERVAL, MutingView
from pipeline.settings import Settings

log = logging.getLogger(__name__)


FLUSH_BATCH_S = 0.005


def routed_alert(value: bytes | None) -> EnrichedAlert | Rejected:
    """Decode one alerts.routed record; it must carry exactly the route it was routed to. Pure."""
    try:
        event = wire.decode(EnrichedAlert, value)
    except wire.WireError as exc:
        return Rejected("WireError", str(exc))
    if len(event.routes) != 1:
        return Rejected("RoutingError", f"an alerts.routed record carries one route, this one {len(event.routes)}")
    return event


def run(settings: Settings) -> None:
    from pipeline.alertmanager_config import load_alertmanager_config
    from pipeline.runtime.app import StageApp
    from pipeline.runtime.follower import TopicFollower, wait_until_caught_up

    config = load_alertmanager_config(settings.alertmanager_config)
    dispatcher = Dispatcher(config, external_url=settings.group.external_url)
    view = MutingView.from_config(config)
    stage = StageApp("group", settings)
    routed = stage.topic("alerts.routed")
    notifications = settings.topic("notifications")
    output = stage.output
    tables = {GROUPS_TABLE: stage.table(GROUPS_TABLE), NFLOG_TABLE: stage.table(NFLOG_TABLE)}
    follower = TopicFollower(settings, view.topics, "group")
    maintenance = {"nflog": datetime.now(timezone.utc), "view": datetime.now(timezone.utc)}
    wake = asyncio.Event()

    def ensure_loaded(group_key: str) -> None:
        if not dispatcher.loaded(group_key):
            key = group_key.encode()
            dispatcher.load(group_key, stage.lookup(tables[GROUPS_TABLE], key), stage.lookup(tables[NFLOG_TABLE], key))

    def store(writes) -> list[tuple]:
        """Apply the dispatcher's writes to the tables; their changelog records, to be written."""
        return [stage.store(tables[write.table], write.key.encode(), write.value) for write in writes]

    def is_muted(alert: Alert, now: datetime) -> bool:
        return view.muting(alert.labels, now).muted

    def reload(now_owned: set[int]) -> None:
        dispatcher.clear()
        for key, value in stage.owned_items(tables[GROUPS_TABLE], now_owned):
            dispatcher.load(key.decode(), value, stage.lookup(tables[NFLOG_TABLE], key))
        log.info("group: owning partitions %s, %s", sorted(now_owned), dict(dispatcher.stats()))

    touched: set[str] = set()  # group keys inserted into while processing one input event

    def handle(_key, value):
        outcome = routed_alert(value)
        if isinstance(outcome, Rejected):
            return outcome
        match = outcome.routes[0]
        ensure_loaded(match.group_key)
        try:
            dispatcher.insert(match, outcome.alert, datetime.now(timezone.utc), outcome.received_at)
        except UnknownRoute as exc:
            return Rejected("UnknownRoute", str(exc))
        touched.add(match.group_key)
        return ()

    def write_touched():
        # One table write per group an input batch touched, not one per alert: a group's value holds
        # all its alerts, so a batch of n alerts of one group wrote n values of growing size before.
        writes = store(dispatcher.group_writes(touched))
        touched.clear()
        return writes

    @stage.app.agent(routed, name="group")
    async def group_agent(stream):
        await stage.tables_ready()
        async for event in stream.noack().events():
            await stage.process(event, handle, write_touched)
            due = dispatcher.next_due()
            if due is not None and due <= datetime.now(timezone.utc):
                wake.set()  # group_wait 0 or an old alert: the flusher goes now, not at the next tick

    @stage.app.task
    async def flusher() -> None:
        # Runs beside the agent: a flush waits for the broker's acks while the agent keeps inserting,
        # and the next flush takes every group that came due meanwhile in one batch.
        while True:
            try:
                await asyncio.wait_for(wake.wait(), timeout=settings.group.tick_s)
            except asyncio.TimeoutError:
                pass
            if wake.is_set():
                await asyncio.sleep(FLUSH_BATCH_S)  # let a burst of due groups gather into one flush
            wake.clear()
            try:
                await flush()
            except Exception:  # noqa: BLE001 - a bad flush must not stop every later one
                log.exception("group: flush failed; retrying at the next tick")
                await asyncio.sleep(settings.group.tick_s)

    async def flush():
        if not follower.caught_up.is_set() or not await stage.settled("alerts.routed", reload):
            return
        view.apply_all(follower.drain())
        now = datetime.now(timezone.utc)
        result = dispatcher.flush_due(now, is_muted, limit=settings.group.max_flushes_per_tick)
        if result.notifications:
            # on the broker before the state says "sent"
            await output.send_and_wait([(notifications, n.id.encode(), wire.encode(n), None)
                                        for n in result.notifications])
        output.write(store(dispatcher.writes_for(result.touched)))
        if now - maintenance["nflog"] >= MAINTENANCE_INTERVAL:
            output.write(store(dispatcher.collect_nflog(now)))
            maintenance["nflog"] = now
        if now - maintenance["view"] >= GC_INTERVAL:
            view.gc(now)
            maintenance["view"] = now

    @stage.app.task
    async def start_follower():
        follower.start()
        await wait_until_caught_up(follower, "group")
        log.info("group: silences and alert states read; flushing enabled")

    stage.run()

