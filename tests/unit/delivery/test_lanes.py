"""The delivery engine with an in-memory ledger and output: outcomes, ledger protocol, isolation."""

import asyncio
from datetime import datetime, timezone

import httpx

from connectors.base import Connector, ConnectorConfig, DeliveryContext, Outcome, OutboundRequest
from pipeline.dead_letters import header_dict
from pipeline.delivery.headers import read_retry_state
from pipeline.delivery.ledger import LedgerEntry, delivered, pending
from pipeline.delivery.retry import RetryPolicy, RetryTier
from pipeline.models import Notification
from pipeline.settings import SinkSettings
from pipeline.stages.sink_lanes import Deliverer, Job


class ScriptedConnector(Connector):
    kind = "test"
    config_model = ConnectorConfig

    def __init__(self, name: str, outcomes=(), delay: float = 0.0):
        super().__init__(ConnectorConfig(), receiver="r", index=0)
        self.name, self.outcomes, self.delay, self.calls = name, list(outcomes), delay, []

    @property
    def target_key(self) -> str:
        return self.name

    def render(self, notification, ctx, thread=None):
        return OutboundRequest("POST", "http://unused")

    def classify(self, response: httpx.Response) -> Outcome:
        raise NotImplementedError

    async def deliver(self, notification, ctx):
        self.calls.append(notification.id)
        await asyncio.sleep(self.delay)
        return self.outcomes.pop(0) if self.outcomes else Outcome.delivered(200)


class MemoryLedger:
    def __init__(self):
        self.entries: dict[str, LedgerEntry] = {}

    async def get(self, nid):
        return self.entries.get(nid)

    async def claim(self, nid, entry):
        if nid in self.entries:
            return False
        self.entries[nid] = entry
        return True

    async def take_over(self, nid, stale, entry):
        if self.entries.get(nid) != stale:
            return False
        self.entries[nid] = entry
        return True

    async def mark_delivered(self, nid, entry):
        self.entries[nid] = entry

    async def release(self, nid, entry):
        if self.entries.get(nid) == entry:
            del self.entries[nid]


class MemoryOutput:
    def __init__(self):
        self.records = []

    async def send(self, topic, key, value, headers):
        self.records.append((topic, key, value, header_dict(headers)))


TIERS = RetryPolicy([RetryTier("notifications.retry.5s", 5), RetryTier("notifications.retry.30s", 30)])


def notification(nid: str) -> Notification:
    return Notification(id=nid, receiver="r", status="firing", group_key="{}:{}", alerts=[], flush_seq=1,
                        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), integration="test/0")


def make(settings=None, wall=lambda: 1000.0):
    ledger, output, acked = MemoryLedger(), MemoryOutput(), []
    deliverer = Deliverer(settings=settings or SinkSettings(rate_per_target_s=1000, burst_per_target=1000),
                          policy=TIERS, ledger_store=ledger, output=output,
                          context=lambda: DeliveryContext(http=None, threads=None, now=datetime.now(timezone.utc)),
                          wall_clock=wall)
    return deliverer, ledger, output, acked


def job(nid, connector, acked, source="notifications", headers=()):
    return Job(key=nid.encode(), value=b"v", headers=list(headers), source_topic=source,
               origin=("p.notifications", 0, int(nid[-1]) if nid[-1].isdigit() else 0),
               done=lambda: acked.append(nid), notification=notification(nid), connector=connector,
               retry=read_retry_state(list(headers)))


async def settle(deliverer, acked, count, timeout=5.0):
    async def wait():
        while len(acked) < count:
            await asyncio.sleep(0.005)
    await asyncio.wait_for(wait(), timeout)
    await deliverer.close()


def test_delivered_is_ledgered_then_acked_and_a_redelivery_is_skipped():
    async def scenario():
        deliverer, ledger, output, acked = make()
        target = ScriptedConnector("a")
        await deliverer.dispatch(job("n1", target, acked))
        while not acked:
            await asyncio.sleep(0.005)
        await deliverer.dispatch(job("n1", target, acked))  # the same record read again after a crash
        await settle(deliverer, acked, 2)
        assert target.calls == ["n1"] and acked == ["n1", "n1"] and output.records == []
        assert ledger.entries["n1"].state == "delivered"
    asyncio.run(scenario())


def test_retryable_goes_to_the_next_tier_with_headers_and_permanent_to_the_dlq():
    async def scenario():
        deliverer, ledger, output, acked = make()
        target = ScriptedConnector("a", [Outcome.retryable("test: HTTP 503", 503),
                                         Outcome.permanent("test: HTTP 400 no", 400)])
        await deliverer.dispatch(job("n1", target, acked))
        await settle(deliverer, acked, 1)
        topic, key, value, headers = output.records[0]
        assert (topic, key, value) == ("notifications.retry.5s", b"n1", b"v")
        assert headers["pipeline.retry.attempts"] == "1" and headers["pipeline.retry.last_error"] == "test: HTTP 503"
        assert ledger.entries == {}  # a failed attempt leaves no entry: a replay or retry may deliver it

        deliverer2 = Deliverer(settings=deliverer.settings, policy=TIERS, ledger_store=ledger, output=output,
                               context=deliverer.context)
        retry_headers = list((k, v.encode()) for k, v in headers.items())
        await deliverer2.dispatch(job("n1", target, acked, "notifications.retry.5s", retry_headers))
        await settle(deliverer2, acked, 2)
        topic, _, value, headers = output.records[1]
        assert topic == "notifications.dlq" and value == b"v"
        assert headers["__connect.errors.exception.class.name"] == "PermanentFailure"
        assert headers["__connect.errors.exception.message"] == "test: HTTP 400 no"
        assert headers["pipeline.retry.attempts"] == "2" and headers["__connect.errors.topic"] == "p.notifications"
        assert ledger.entries == {}
    asyncio.run(scenario())


def test_a_pending_entry_older_than_the_lease_is_an_unknown_outcome_dead_lettered_not_resent():
    async def scenario():
        deliverer, ledger, output, acked = make(wall=lambda: 1000.0)
        ledger.entries["n1"] = pending(1000.0 - 61, "crashed-worker")
        ledger.entries["n2"] = pending(1000.0 - 1, "live-worker")
        ledger.entries["n3"] = delivered(5)
        target = ScriptedConnector("a")
        for nid in ("n1", "n2", "n3"):
            await deliverer.dispatch(job(nid, target, acked))
        await settle(deliverer, acked, 3)
        assert target.calls == []
        by_topic = {r[1]: r for r in output.records}
        assert by_topic[b"n1"][0] == "notifications.dlq"
        assert by_topic[b"n1"][3]["__connect.errors.exception.class.name"] == "UnknownOutcome"
        assert by_topic[b"n2"][0] == "notifications.retry.5s"  # in flight elsewhere: requeued uncounted
        assert by_topic[b"n2"][3]["pipeline.retry.attempts"] == "0"
        assert b"n3" not in by_topic
        assert "n1" not in ledger.entries  # free for `pipeline dlq replay`
    asyncio.run(scenario())


def test_redeliver_policy_takes_over_a_stale_attempt():
    async def scenario():
        deliverer, ledger, output, acked = make(
            SinkSettings(on_unknown_outcome="redeliver", rate_per_target_s=1000, burst_per_target=1000))
        ledger.entries["n1"] = pending(1000.0 - 61, "crashed-worker")
        target = ScriptedConnector("a")
        await deliverer.dispatch(job("n1", target, acked))
        await settle(deliverer, acked, 1)
        assert target.calls == ["n1"] and ledger.entries["n1"].state == "delivered"
    asyncio.run(scenario())


def test_a_slow_target_does_not_hold_up_another():
    async def scenario():
        deliverer, ledger, output, acked = make(SinkSettings(concurrency_per_target=1, rate_per_target_s=1000,
                                                             burst_per_target=1000))
        slow, fast = ScriptedConnector("slow", delay=0.5), ScriptedConnector("fast", delay=0.01)
        for i in range(3):
            await deliverer.dispatch(job(f"s{i}", slow, acked))
        for i in range(5):
            await deliverer.dispatch(job(f"f{i}", fast, acked))
        await settle(deliverer, acked, 8)
        assert acked[:5] == [f"f{i}" for i in range(5)], acked
    asyncio.run(scenario())


def test_a_full_backlog_and_an_open_breaker_send_records_on_without_calling_the_target():
    async def scenario():
        settings = SinkSettings(concurrency_per_target=1, queue_per_target=1, breaker_failures=1,
                                breaker_cooldown_s=60, rate_per_target_s=1000, burst_per_target=1000)
        deliverer, ledger, output, acked = make(settings)
        target = ScriptedConnector("a", [Outcome.retryable("test: timeout")], delay=0.2)
        for nid in ("n1", "n2", "n3"):
            await deliverer.dispatch(job(nid, target, acked))
            await asyncio.sleep(0.01)  # the lane's worker takes n1 off the queue
        await settle(deliverer, acked, 3)
        assert target.calls == ["n1"]  # n2 waited, then met the open breaker; n3 found the backlog full
        records = {r[1].decode(): r[3] for r in output.records}
        assert records["n3"]["pipeline.retry.attempts"] == "0"  # requeued, not counted
        assert records["n2"]["pipeline.retry.last_error"] == "test: circuit open after repeated failures"
        assert records["n1"]["pipeline.retry.last_error"] == "test: timeout"
    asyncio.run(scenario())


async def _after_a_cool_down(failures: int, records: tuple[str, ...], concurrency: int = 3, delivered_already=()):
    """One failed delivery (f0) opens the breaker of a target that fails ``failures`` times in all;
    once its cool-down is over, ``records`` are dispatched together. Returns (target, ledger, output)."""
    settings = SinkSettings(concurrency_per_target=concurrency, breaker_failures=1, breaker_cooldown_s=0.05,
                            rate_per_target_s=1000, burst_per_target=1000)
    deliverer, ledger, output, acked = make(settings)
    target = ScriptedConnector("a", [Outcome.retryable("test: HTTP 503", 503)] * failures, delay=0.1)
    await deliverer.dispatch(job("f0", target, acked))
    while not acked:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.06)
    for nid in delivered_already:
        ledger.entries[nid] = delivered(1000.0)
    for nid in records:
        await deliverer.dispatch(job(nid, target, acked))
    await settle(deliverer, acked, 1 + len(records))
    return target, ledger, output


def test_records_due_while_the_probe_is_under_way_wait_for_it_and_go_out_when_it_succeeds():
    # A target that is back gets its backlog at once: the records that came due during the probe
    # are not each moved on a retry tier (they would meet a breaker that is closed by then).
    target, ledger, output = asyncio.run(_after_a_cool_down(1, ("p1", "p2", "p3")))
    assert target.calls == ["f0", "p1", "p2", "p3"]
    assert [r[1] for r in output.records] == [b"f0"]  # only the first failure went to a tier
    assert all(ledger.entries[n].state == "delivered" for n in ("p1", "p2", "p3"))


def test_when_the_probe_fails_the_records_that_waited_for_it_go_to_the_next_tier_uncalled():
    target, _ledger, output = asyncio.run(_after_a_cool_down(2, ("p1", "p2", "p3")))
    assert target.calls == ["f0", "p1"]
    errors = {r[1].decode(): r[3]["pipeline.retry.last_error"] for r in output.records}
    assert errors == {"f0": "test: HTTP 503", "p1": "test: HTTP 503",
                      "p2": "test: circuit open after repeated failures",
                      "p3": "test: circuit open after repeated failures"}


def test_a_probe_that_calls_nothing_hands_the_probe_to_the_next_record():
    # The probe's record was delivered already (read again after a restart): it tells nothing about
    # the target, so the breaker must not stay half-open with a probe that never ends.
    target, ledger, _output = asyncio.run(_after_a_cool_down(1, ("p1", "p2"), concurrency=1,
                                                             delivered_already=("p1",)))
    assert target.calls == ["f0", "p2"] and ledger.entries["p2"].state == "delivered"


def test_a_long_retry_after_pauses_the_target_and_sends_the_next_record_to_a_long_enough_tier():
    async def scenario():
        deliverer, ledger, output, acked = make(SinkSettings(concurrency_per_target=1, max_local_wait_s=1,
                                                             rate_per_target_s=1000, burst_per_target=1000))
        target = ScriptedConnector("a", [Outcome.retryable("test: HTTP 429", 429, retry_after=20)])
        await deliverer.dispatch(job("n1", target, acked))
        await deliverer.dispatch(job("n2", target, acked))
        await settle(deliverer, acked, 2)
        assert target.calls == ["n1"]
        assert {r[1]: r[0] for r in output.records} == {b"n1": "notifications.retry.30s",
                                                          b"n2": "notifications.retry.30s"}
    asyncio.run(scenario())


def test_a_lane_keeps_to_the_targets_documented_rate_when_lower():
    from connectors.sinks.slack import SlackConnector
    from connectors.sinks.webhook import WebhookConnector
    from pipeline.stages.sink_lanes import Lane

    settings = SinkSettings(rate_per_target_s=200)
    assert Lane("slack:x", settings, 0.0, SlackConnector.rate_per_s).bucket.rate == 1.0
    assert Lane("webhook:x", settings, 0.0, WebhookConnector.rate_per_s).bucket.rate == 200
    assert Lane("slack:x", SinkSettings(rate_per_target_s=0.5), 0.0, 1.0).bucket.rate == 0.5


def test_each_lane_worker_builds_its_context_once_and_every_delivery_gets_a_fresh_now():
    class Recording(ScriptedConnector):
        async def deliver(self, notification, ctx):
            seen.append((id(ctx), ctx.now))
            await asyncio.sleep(0.01)
            return Outcome.delivered(200)

    async def scenario():
        settings = SinkSettings(concurrency_per_target=2, rate_per_target_s=1000, burst_per_target=1000)
        deliverer, ledger, output, acked = make(settings)
        built = []

        def context():
            built.append(DeliveryContext(http=None, threads=None, now=datetime(2000, 1, 1, tzinfo=timezone.utc)))
            return built[-1]

        deliverer.context = context
        target = Recording("a")
        for i in range(6):
            await deliverer.dispatch(job(f"n{i}", target, acked))
        await settle(deliverer, acked, 6)
        assert len(built) == 2  # one per worker of the lane, not one per delivery
        assert {ctx for ctx, _ in seen} == {id(c) for c in built}
        assert all(now.year >= 2026 for _, now in seen)  # refreshed before each delivery

    seen = []
    asyncio.run(scenario())


def test_a_connector_slower_than_the_attempt_timeout_is_a_retryable_failure():
    async def scenario():
        settings = SinkSettings(ledger_lease_s=0.2, concurrency_per_target=1, rate_per_target_s=1000,
                                burst_per_target=1000)
        deliverer, ledger, output, acked = make(settings)
        target = ScriptedConnector("a", delay=1.0)  # attempt timeout is half the lease: 0.1 s
        await deliverer.dispatch(job("n1", target, acked))
        await settle(deliverer, acked, 1)
        topic, _, _, headers = output.records[0]
        assert topic == "notifications.retry.5s"
        assert headers["pipeline.retry.last_error"] == "test: no outcome within 0.1s"
        assert ledger.entries == {}
    asyncio.run(scenario())


def test_close_lets_deliveries_under_way_finish_and_leaves_queued_ones_unacked():
    async def scenario():
        settings = SinkSettings(concurrency_per_target=2, rate_per_target_s=1000, burst_per_target=1000)
        deliverer, ledger, output, acked = make(settings)
        busy, idle = ScriptedConnector("busy", delay=0.2), ScriptedConnector("idle")
        for i in range(3):  # two in the lane's workers, one queued behind them
            await deliverer.dispatch(job(f"b{i}", busy, acked))
        await deliverer.dispatch(job("i0", idle, acked))
        while "i0" not in acked or len(busy.calls) < 2:
            await asyncio.sleep(0.005)
        await deliverer.close(grace_s=5.0)
        assert sorted(acked) == ["b0", "b1", "i0"] and busy.calls == ["b0", "b1"]  # b2 waits for its next owner
        assert ledger.entries["b0"].state == ledger.entries["b1"].state == "delivered"
        assert all(w.done() for lane in deliverer.lanes.values() for w in lane.workers)

        deliverer, ledger, output, acked = make(settings)
        stuck = ScriptedConnector("stuck", delay=60)
        await deliverer.dispatch(job("s0", stuck, acked))
        while not stuck.calls:
            await asyncio.sleep(0.005)
        started = asyncio.get_running_loop().time()
        await deliverer.close(grace_s=0.1)  # past the grace, a delivery is cut off
        assert asyncio.get_running_loop().time() - started < 1 and acked == []
    asyncio.run(scenario())
