"""Group commit of the ledger writes (pipeline.delivery.batching), with a fake ``run``."""

import asyncio

import pytest

from pipeline.delivery.batching import Batcher


class FakeRun:
    """Records each call; answers item * 10, or the exception an item names; can be held open."""

    def __init__(self):
        self.calls: list[list] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def __call__(self, items):
        self.calls.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [item if isinstance(item, Exception) else item * 10 for item in items]


def held_open(max_in_flight: int) -> tuple[FakeRun, Batcher]:
    """A batcher whose calls stay under way until ``run.gate`` is set (call inside the event loop)."""
    run = FakeRun()
    run.gate = asyncio.Event()
    return run, Batcher(run, max_in_flight=max_in_flight)


def test_requests_made_together_go_out_as_one_call_and_each_gets_its_own_result():
    async def scenario():
        run = FakeRun()
        batcher = Batcher(run)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        assert results == [0, 10, 20, 30, 40]
        assert run.calls == [[0, 1, 2, 3, 4]] and batcher.batches == 1 and batcher.items == 5
    asyncio.run(scenario())


def test_a_lone_request_goes_out_at_once():
    async def scenario():
        run = FakeRun()
        batcher = Batcher(run)
        assert await batcher.submit(7) == 70
        assert await batcher.submit(8) == 80
        assert run.calls == [[7], [8]]
    asyncio.run(scenario())


def test_requests_made_while_a_call_is_under_way_wait_for_it_and_then_go_out_together():
    async def scenario():
        run, batcher = held_open(max_in_flight=1)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        assert run.calls == [[1]]  # under way, held open
        later = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3, 4)]
        await asyncio.sleep(0.01)
        assert run.calls == [[1]]  # one call at a time: the others wait
        run.gate.set()
        assert await first == 10 and await asyncio.gather(*later) == [20, 30, 40]
        assert run.calls == [[1], [2, 3, 4]]
    asyncio.run(scenario())


def test_max_in_flight_allows_that_many_calls_at_once():
    async def scenario():
        run, batcher = held_open(max_in_flight=2)
        a = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        b = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0.01)
        c = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0.01)
        assert run.calls == [[1], [2]]
        run.gate.set()
        assert await asyncio.gather(a, b, c) == [10, 20, 30]
        assert run.calls == [[1], [2], [3]]
    asyncio.run(scenario())


def test_batches_are_cut_at_max_batch():
    async def scenario():
        run = FakeRun()
        batcher = Batcher(run, max_batch=3)
        assert await asyncio.gather(*(batcher.submit(i) for i in range(7))) == [i * 10 for i in range(7)]
        assert run.calls == [[0, 1, 2], [3, 4, 5], [6]]
    asyncio.run(scenario())


def test_an_items_error_is_raised_in_its_submitter_only():
    async def scenario():
        run = FakeRun()
        batcher = Batcher(run)
        boom = ValueError("wrong number of arguments")
        results = await asyncio.gather(batcher.submit(1), batcher.submit(boom), batcher.submit(3),
                                       return_exceptions=True)
        assert results == [10, boom, 30] and len(run.calls) == 1
    asyncio.run(scenario())


def test_a_failed_call_fails_every_item_and_the_next_submissions_go_out_again():
    async def scenario():
        run = FakeRun()
        run.fail = ConnectionError("redis went away")
        batcher = Batcher(run)
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        run.fail = None
        assert await asyncio.gather(batcher.submit(1), batcher.submit(2)) == [10, 20]  # a retry goes through
        assert run.calls == [[1, 2], [1, 2]]
    asyncio.run(scenario())


def test_a_wrong_number_of_results_fails_the_call_instead_of_mismatching_them():
    async def scenario():
        async def short(items):
            return items[:-1]
        batcher = Batcher(short)
        with pytest.raises(RuntimeError, match="got 1 results"):
            await asyncio.gather(batcher.submit(1), batcher.submit(2))
    asyncio.run(scenario())


def test_a_submitter_that_stops_waiting_is_left_out_of_calls_not_yet_made():
    async def scenario():
        run, batcher = held_open(max_in_flight=1)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.submit(2))
        kept = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0.01)
        gone.cancel()
        run.gate.set()
        assert await first == 10 and await kept == 30
        assert run.calls == [[1], [3]]
        await batcher.aclose()
    asyncio.run(scenario())
