"""Writer (pipeline.runtime.output) against a recording producer: how records of the batched topics
are gathered per partition, what goes alone, taps, and when a barrier returns."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.runtime.output import TAP_HEADER, OutputFailed, Writer
from pipeline.runtime.partitioning import partition_of
from pipeline.settings import Settings
from pipeline.wire.batch import is_batch, unpack


class Message:
    def __init__(self, topic, partition, offset):
        self._topic, self._partition, self._offset = topic, partition, offset

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset


class RecordingProducer:
    """Queues what a DurableProducer would send; ``deliver()`` plays the broker's acknowledgements."""

    def __init__(self):
        self.sent: list[dict] = []
        self._callbacks: list = []

    def produce(self, topic, key, value, headers, on_delivery):
        self.produce_keyed_to(topic, None, key, value, headers, on_delivery)

    def produce_keyed_to(self, topic, partition, key, value, headers, on_delivery):
        self.sent.append({"topic": topic, "key": key, "value": value, "headers": headers, "partition": partition})
        self._callbacks.append((on_delivery, topic, partition))

    def deliver(self, error=None):
        callbacks, self._callbacks = self._callbacks, []
        for offset, (callback, topic, partition) in enumerate(callbacks):
            callback(error, Message(topic, partition if partition is not None else 0, offset))

    def poll(self, timeout):
        pass

    def close(self, timeout):
        return 0


def writer_with(producer) -> Writer:
    return Writer(Settings(), {"t.batched": 6}, producer=producer)


def keys_in(partition: int, count: int) -> list[bytes]:
    return [k for k in (f"key-{i}".encode() for i in range(500)) if partition_of(k, 6) == partition][:count]


async def settle():
    await asyncio.sleep(0.01)  # acknowledgements reach the loop through call_soon_threadsafe


def test_records_of_one_partition_leave_as_one_batch_once_the_loop_turns():
    producer = RecordingProducer()

    async def scenario():
        writer = writer_with(producer)
        a, b = keys_in(2, 2)
        (c,) = keys_in(4, 1)
        for key, value in ((a, b"1"), (b, b"2"), (c, b"3")):
            writer.write("t.batched", key, value)
        writer.write("t.plain", b"k", b"4")
        assert [r["topic"] for r in producer.sent] == ["t.plain"]  # batches wait for the loop's turn
        await asyncio.sleep(0)
        batches = {r["partition"]: unpack(r["value"]) for r in producer.sent if r["topic"] == "t.batched"}
        assert batches == {2: [(a, b"1"), (b, b"2")], 4: [(c, b"3")]}
        assert all(is_batch(r["headers"]) for r in producer.sent if r["topic"] == "t.batched")

    asyncio.run(scenario())


def test_a_barrier_returns_once_everything_written_before_it_is_acknowledged():
    producer = RecordingProducer()

    async def scenario():
        writer = writer_with(producer)
        (a,) = keys_in(1, 1)
        writer.write("t.batched", a, b"1")
        writer.write("t.plain", b"k", b"x")
        barrier = asyncio.ensure_future(writer.barrier())
        await settle()
        assert not barrier.done()
        writer.write("t.plain", b"later", b"y")   # after the barrier: not waited for
        producer.deliver()
        await settle()
        assert barrier.done() and barrier.exception() is None
        assert writer.offsets[("t.plain", 0)] >= 1

    asyncio.run(scenario())


def test_a_record_with_headers_goes_alone_after_what_is_buffered_for_its_partition():
    producer = RecordingProducer()

    async def scenario():
        writer = writer_with(producer)
        a, b = keys_in(3, 2)
        writer.write("t.batched", a, b"first")
        writer.write("t.batched", b, b"second", [("h", b"v")])
        await asyncio.sleep(0)
        assert [(r["partition"], r["key"]) for r in producer.sent] == [(3, None), (3, b)]
        assert unpack(producer.sent[0]["value"]) == [(a, b"first")]

    asyncio.run(scenario())


def test_taps_are_marked_and_batched_apart_from_boundary_records():
    producer = RecordingProducer()

    async def scenario():
        writer = writer_with(producer)
        a, b = keys_in(0, 2)
        writer.write("t.batched", a, b"tap", tap=True)
        writer.write("t.batched", b, b"boundary")
        writer.write("t.plain", b"k", b"tap", tap=True)
        await asyncio.sleep(0)
        def tapped(record) -> bool:
            return any(name == TAP_HEADER for name, _ in record["headers"] or ())

        batched = {(tapped(r), tuple(unpack(r["value"]))) for r in producer.sent if r["topic"] == "t.batched"}
        assert batched == {(True, ((a, b"tap"),)), (False, ((b, b"boundary"),))}
        (plain,) = [r for r in producer.sent if r["topic"] == "t.plain"]
        assert tapped(plain) and plain["value"] == b"tap"

    asyncio.run(scenario())


def test_a_refused_delivery_fails_the_writer_and_the_barrier():
    producer = RecordingProducer()

    class BrokerError:
        def str(self):
            return "Broker: Message size too large"

    async def scenario():
        writer = writer_with(producer)
        writer.write("t.batched", b"k", b"v")
        barrier = asyncio.ensure_future(writer.barrier())
        await asyncio.sleep(0)
        producer.deliver(error=BrokerError())
        await settle()
        with pytest.raises(OutputFailed):
            barrier.result()
        assert writer.failed == "the broker did not accept a record: Broker: Message size too large"
        with pytest.raises(OutputFailed):
            writer.write("t.plain", b"k", b"v")

    asyncio.run(scenario())
