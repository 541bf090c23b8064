"""classify's concurrent path (pipeline.stages.classify.submit_items): every item of a batch record
leaves when its own work is done, and each input event is acknowledged after its own items only,
however the work of consecutive events interleaves."""

from __future__ import annotations

import asyncio

from pipeline.classification.inflight import KeyedInFlight
from pipeline.dead_letters import Rejected
from pipeline.stages.classify import Classified, submit_items
from pipeline.wire.batch import BATCH_HEADERS, pack


class Message:
    def __init__(self, offset):
        self.headers, self.offset = BATCH_HEADERS, offset


class Event:
    def __init__(self, offset, items):
        self.message, self.key, self.value = Message(offset), None, pack(items)
        self.acked = 0

    def ack(self):
        self.acked += 1


class Output:
    def __init__(self):
        self.emitted = []  # (what acks it, records)

    async def emit(self, ack, records):
        self.emitted.append((ack, records))
        ack.ack()


class Stage:
    def __init__(self):
        self.output = Output()

    @staticmethod
    def items(event):
        from pipeline.wire.batch import unpack
        return unpack(event.value)

    @staticmethod
    def dead_letter_record(event, rejected, item=None):
        return ("dlq", item[1], item[2], [("offset", str(event.message.offset).encode()), ("reason", rejected.reason.encode())])


class SlowFirstClassifier:
    """The first event's items wait until the test releases them: the second event's finish while they
    are in flight, whatever the machine's load (no timing in the test)."""

    def __init__(self):
        self.release = asyncio.Event()

    async def process(self, value):
        if value == b"slow":
            await self.release.wait()
        else:
            await asyncio.sleep(0)
        if value == b"bad":
            return Rejected("WireError", "unreadable")
        return Classified(value, value + b"!")


async def until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


def test_each_event_is_acknowledged_after_its_own_items_and_dead_letters_name_their_event():
    stage, classifier = Stage(), SlowFirstClassifier()
    first = Event(10, [(b"a", b"slow"), (b"b", b"slow")])
    second = Event(11, [(b"c", b"fast"), (b"d", b"bad")])

    async def scenario():
        in_flight = KeyedInFlight(8)
        await submit_items(stage, first, classifier, in_flight, "classified")
        await submit_items(stage, second, classifier, in_flight, "classified")
        await until(lambda: second.acked == 1)
        assert first.acked == 0  # the second is out while the first still works
        classifier.release.set()
        await in_flight.drain()
        assert (first.acked, second.acked) == (1, 1)

    asyncio.run(scenario())
    dead = [records[0] for _, records in stage.output.emitted if records[0][0] == "dlq"]
    assert dead == [("dlq", b"d", b"bad", [("offset", b"11"), ("reason", b"unreadable")])]
    classified = sorted(records[0][1] for _, records in stage.output.emitted if records[0][0] == "classified")
    assert classified == [b"fast", b"slow", b"slow"]
