"""StageOutput (pipeline.runtime.output) against a recording producer: how records of the batched
topics are gathered per partition, what goes alone, and when an input event is acknowledged."""

from __future__ import annotations

import asyncio

from pipeline.runtime.partitioning import partition_of
from pipeline.settings import Settings
from pipeline.runtime.output import AckAfter, StageOutput
from pipeline.wire.batch import is_batch, unpack


class RecordingProducer:
    """Queues what a DurableProducer would send; ``deliver()`` plays the broker's acknowledgements."""

    def __init__(self):
        self.sent: list[dict] = []
        self._callbacks: list = []

    def produce(self, topic, key, value, headers, on_delivery):
        self.sent.append({"topic": topic, "key": key, "value": value, "headers": headers, "partition": None})
        self._callbacks.append(on_delivery)

    def produce_to(self, topic, partition, value, headers, on_delivery):
        self.sent.append({"topic": topic, "key": None, "value": value, "headers": headers, "partition": partition})
        self._callbacks.append(on_delivery)

    def deliver(self, error=None):
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(error, None)

    def close(self, timeout):
        return 0


class Event:
    def __init__(self):
        self.acked = 0

    def ack(self):
        self.acked += 1


def output_with(producer) -> StageOutput:
    async def stop(_reason):
        pass

    return StageOutput(Settings(), stop, {"t.batched": 6}, producer=producer)


def keys_in(partition: int, count: int) -> list[bytes]:
    return [k for k in (f"key-{i}".encode() for i in range(500)) if partition_of(k, 6) == partition][:count]


def test_records_of_one_partition_leave_as_one_batch_once_the_loop_turns_and_the_event_waits_for_it():
    producer, event = RecordingProducer(), Event()

    async def scenario():
        output = output_with(producer)
        a, b = keys_in(2, 2)
        (c,) = keys_in(4, 1)
        await output.emit(event, [("t.batched", a, b"1", None), ("t.batched", b, b"2", None),
                                  ("t.batched", c, b"3", None), ("t.plain", b"k", b"4", None)])
        assert [r["topic"] for r in producer.sent] == ["t.plain"]  # batches wait for the loop's turn
        await asyncio.sleep(0)
        batches = {r["partition"]: unpack(r["value"]) for r in producer.sent if r["topic"] == "t.batched"}
        assert batches == {2: [(a, b"1"), (b, b"2")], 4: [(c, b"3")]}
        assert all(is_batch(r["headers"]) for r in producer.sent if r["topic"] == "t.batched")
        producer.deliver()
        await asyncio.sleep(0.01)  # acknowledgements reach the loop through call_soon_threadsafe
        assert event.acked == 1

    asyncio.run(scenario())


def test_an_event_is_not_acknowledged_before_every_record_of_it_is():
    producer, first, second = RecordingProducer(), Event(), Event()

    async def scenario():
        output = output_with(producer)
        (a,) = keys_in(1, 1)
        await output.emit(first, [("t.batched", a, b"1", None)])
        await output.emit(second, [("t.batched", a, b"2", None), ("t.plain", b"k", b"x", None)])
        await asyncio.sleep(0)
        assert len(producer.sent) == 2  # the plain record, then one batch holding both events' items
        await asyncio.sleep(0.01)
        assert (first.acked, second.acked) == (0, 0)
        producer.deliver(error=None)
        await asyncio.sleep(0.01)
        assert (first.acked, second.acked) == (1, 1)

    asyncio.run(scenario())


def test_a_record_with_headers_goes_alone_after_what_is_buffered_for_its_partition():
    producer, event = RecordingProducer(), Event()

    async def scenario():
        output = output_with(producer)
        a, b = keys_in(3, 2)
        await output.emit(event, [("t.batched", a, b"first", None),
                                  ("t.batched", b, b"second", [("h", b"v")])])
        await asyncio.sleep(0)
        assert [(r["partition"], r["key"]) for r in producer.sent] == [(3, None), (None, b)]
        assert unpack(producer.sent[0]["value"]) == [(a, b"first")]

    asyncio.run(scenario())


def test_a_refused_delivery_fails_the_output_and_acknowledges_nothing():
    producer, event = RecordingProducer(), Event()

    class BrokerError:
        def str(self):
            return "Broker: Message size too large"

    async def scenario():
        output = output_with(producer)
        await output.emit(event, [("t.batched", b"k", b"v", None)])
        await asyncio.sleep(0)
        producer.deliver(error=BrokerError())
        await asyncio.sleep(0.01)
        assert event.acked == 0
        assert output.failed == "the broker did not accept a record: Broker: Message size too large"

    asyncio.run(scenario())


def test_ack_after_acknowledges_the_event_once_every_part_is_done():
    event = Event()
    parts = AckAfter(event, 3)
    parts.ack()
    parts.ack()
    assert event.acked == 0
    parts.ack()
    assert event.acked == 1
    empty = Event()
    AckAfter(empty, 0)
    assert empty.acked == 1
