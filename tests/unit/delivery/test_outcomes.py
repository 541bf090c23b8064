"""The sink's DeliveryOutcome records: one per settled attempt, before the ack, secret-free."""

import asyncio
from datetime import datetime, timezone

from connectors.base import DeliveryContext, Outcome
from pipeline import wire
from pipeline.delivery.headers import MAX_ERROR_CHARS, secret_free
from pipeline.delivery.ledger import pending
from pipeline.models import DeliveryOutcome
from pipeline.settings import SinkSettings
from pipeline.stages.sink_lanes import Deliverer
from tests.unit.delivery.test_lanes import TIERS, MemoryLedger, ScriptedConnector, job, settle

OUTCOMES = "notifications.outcomes"


class OrderedOutput:
    """Records what was written and what was acknowledged, in one order."""

    def __init__(self, events):
        self.events = events

    async def send(self, topic, key, value, headers):
        self.events.append(("write", topic, key, value))


def make(events, ledger=None, policy=TIERS):
    acked = []
    deliverer = Deliverer(settings=SinkSettings(rate_per_target_s=1000, burst_per_target=1000), policy=policy,
                          ledger_store=ledger or MemoryLedger(), output=OrderedOutput(events),
                          context=lambda: DeliveryContext(http=None, threads=None, now=datetime.now(timezone.utc)),
                          outcome_topic=OUTCOMES)
    return deliverer, acked


def outcomes(events) -> list[DeliveryOutcome]:
    return [wire.decode(DeliveryOutcome, e[3]) for e in events if e[0] == "write" and e[1] == OUTCOMES]


def run(scenario):
    asyncio.run(scenario())


def test_every_settled_attempt_writes_one_outcome_before_the_ack():
    async def scenario():
        events = []
        deliverer, acked = make(events)
        target = ScriptedConnector("a", [Outcome.retryable("test: HTTP 503", 503)])

        def done(nid):
            events.append(("ack", nid))
            acked.append(nid)

        first = job("n1", target, acked)
        first.done = lambda: done("n1")
        await deliverer.dispatch(first)
        await settle(deliverer, acked, 1)
        [retrying] = outcomes(events)
        assert (retrying.outcome, retrying.attempt, retrying.error, retrying.retry_tier, retrying.status_code) == (
            "retrying", 1, "test: HTTP 503", "notifications.retry.5s", 503)
        assert (retrying.notification_id, retrying.receiver, retrying.integration, retrying.group_key) == (
            "n1", "r", "test/0", "{}:{}")
        kinds = [e[0] if e[0] == "ack" else e[1] for e in events]
        assert kinds == ["notifications.retry.5s", OUTCOMES, "ack"]  # retry record, outcome, then the ack
        assert [e[2] for e in events if e[0] == "write" and e[1] == OUTCOMES] == [b"n1"]  # keyed by the id
    run(scenario)


def test_delivered_after_a_retry_counts_the_attempt_and_a_replay_is_a_duplicate_skipped():
    async def scenario():
        events, ledger = [], MemoryLedger()
        deliverer, acked = make(events, ledger)
        target = ScriptedConnector("a")
        headers = [("pipeline.retry.attempts", b"1"), ("pipeline.retry.tier", b"notifications.retry.5s")]
        await deliverer.dispatch(job("n1", target, acked, "notifications.retry.5s", headers))
        await settle(deliverer, acked, 1)
        deliverer, acked = make(events, ledger)
        await deliverer.dispatch(job("n1", target, acked))  # read again after a crash: already delivered
        await settle(deliverer, acked, 1)
        assert [(o.outcome, o.attempt, o.error, o.status_code) for o in outcomes(events)] == [
            ("delivered", 2, "", 200), ("duplicate_skipped", 1, "", None)]
        assert target.calls == ["n1"]
    run(scenario)


def test_permanent_and_exhausted_failures_are_dead_lettered_outcomes():
    async def scenario():
        events = []
        deliverer, acked = make(events)
        permanent = ScriptedConnector("a", [Outcome.permanent("test: HTTP 400 bad", 400)])
        exhausted = ScriptedConnector("b", [Outcome.retryable("test: HTTP 502", 502)])
        headers = [("pipeline.retry.attempts", b"2"), ("pipeline.retry.tier", b"notifications.retry.30s")]
        await deliverer.dispatch(job("n1", permanent, acked))
        await deliverer.dispatch(job("n2", exhausted, acked, "notifications.retry.30s", headers))
        await settle(deliverer, acked, 2)
        found = {o.notification_id: o for o in outcomes(events)}
        assert (found["n1"].outcome, found["n1"].attempt, found["n1"].error, found["n1"].status_code) == (
            "dead_lettered", 1, "test: HTTP 400 bad", 400)
        assert (found["n2"].outcome, found["n2"].attempt, found["n2"].status_code) == ("dead_lettered", 3, 502)
        assert found["n2"].error == "3 attempts failed, the last: test: HTTP 502"
    run(scenario)


def test_an_uncounted_requeue_writes_no_outcome():
    async def scenario():
        events, ledger = [], MemoryLedger()
        ledger.entries["n1"] = pending(10**12, "someone-else")  # in flight elsewhere, lease not over
        deliverer, acked = make(events, ledger)
        deliverer.wall_clock = lambda: 10**12
        await deliverer.dispatch(job("n1", ScriptedConnector("a"), acked))
        await settle(deliverer, acked, 1)
        assert [e[1] for e in events] == ["notifications.retry.5s"] and outcomes(events) == []
    run(scenario)


def test_outcomes_carry_no_target_url_and_stay_bounded():
    class Failing(ScriptedConnector):
        async def deliver(self, notification, ctx):
            raise RuntimeError("cannot connect to https://hooks.slack.com/services/T000/B000/SECRETTOKEN?x=1")

    async def scenario():
        events = []
        deliverer, acked = make(events)
        await deliverer.dispatch(job("n1", Failing("a"), acked))
        await settle(deliverer, acked, 1)
        [retrying] = outcomes(events)
        assert "SECRETTOKEN" not in retrying.error and "T000" not in retrying.error
        assert "https://hooks.slack.com/…" in retrying.error
        headers = [e for e in events if e[1] == "notifications.retry.5s"]
        assert headers  # the retry record's last_error is the same secret-free reason
    run(scenario)
    assert secret_free("x" * 5000) == "x" * MAX_ERROR_CHARS
    assert secret_free("see http://user:pw@host:8080 now") == "see http://host:8080/… now"
    assert secret_free("plain reason") == "plain reason"


def test_without_an_outcome_topic_nothing_is_written():
    async def scenario():
        events = []
        deliverer, acked = make(events)
        deliverer.outcome_topic = None
        await deliverer.dispatch(job("n1", ScriptedConnector("a"), acked))
        await settle(deliverer, acked, 1)
        assert events == []
    run(scenario)
