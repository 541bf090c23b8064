"""The Redis delivery ledger against the real Redis: the writes of deliveries that reach the same point
together share one pipelined round trip, and each caller still gets its own command's answer."""

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis

from pipeline.delivery.ledger import delivered, pending
from pipeline.stages.sink_stores import RedisLedger

pytestmark = pytest.mark.timeout(60)


def test_concurrent_claims_and_delivered_marks_are_batched_with_per_id_answers(redis_url):
    async def scenario():
        client = aioredis.from_url(redis_url)
        store = RedisLedger(client, f"ledgertest{uuid.uuid4().hex[:8]}.", ttl_s=60)
        try:
            ids = [f"n{i}" for i in range(50)]
            taken = pending(round(time.time(), 3), "someone-else")  # as encoded (ms)
            assert await store.claim("n7", taken)  # already pending elsewhere: its claim must fail
            before = store.writes.batches
            ours = pending(round(time.time(), 3), "us")
            claimed = await asyncio.gather(*(store.claim(nid, ours) for nid in ids))
            assert claimed == [nid != "n7" for nid in ids]
            assert store.writes.batches - before == 1  # 50 SET NX, one round trip
            assert await store.get("n7") == taken and await store.get("n8") == ours

            await asyncio.gather(*(store.mark_delivered(nid, delivered(time.time())) for nid in ids if nid != "n7"))
            assert store.writes.batches - before == 2
            states = [(await store.get(nid)).state for nid in ids]
            assert states == ["pending" if nid == "n7" else "delivered" for nid in ids]
            assert 0 < await client.ttl(store._key("n8")) <= 60

            await store.release("n7", taken)  # the rare operations are single commands, unchanged
            assert await store.get("n7") is None
        finally:
            await client.delete(*[store._key(f"n{i}") for i in range(50)])
            await client.aclose()
    asyncio.run(scenario())


def test_a_redis_error_in_one_write_reaches_only_its_caller(redis_url):
    async def scenario():
        client = aioredis.from_url(redis_url)
        store = RedisLedger(client, f"ledgertest{uuid.uuid4().hex[:8]}.", ttl_s=60)
        try:
            results = await asyncio.gather(store.claim("a", pending(time.time(), "t")),
                                           store.writes.submit(("SET", "only-a-key")),  # wrong arity
                                           store.claim("b", pending(time.time(), "t")), return_exceptions=True)
            assert results[0] is True and results[2] is True
            assert isinstance(results[1], aioredis.ResponseError)
            assert store.writes.batches == 1
        finally:
            await client.delete(store._key("a"), store._key("b"))
            await client.aclose()
    asyncio.run(scenario())
