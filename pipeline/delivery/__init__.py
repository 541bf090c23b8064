"""Delivery semantics of the sink stage, as pure synchronous code (no Kafka, no Redis, no HTTP).

- ``headers``: the retry state a notification carries between attempts (documented header names);
- ``retry``: which retry tier or the DLQ a failed attempt leads to;
- ``ratelimit``: token bucket per target that honours Retry-After;
- ``breaker``: circuit breaker per target;
- ``ledger``: what the delivery ledger's entry for a notification means for the next attempt;
- ``replay``: reading, filtering and re-sending ``notifications.dlq`` (the ``pipeline dlq`` commands).
- ``batching``: group commit (asyncio, no I/O of its own): the ledger writes of deliveries that reach
  the same point together go out as one Redis pipeline.

The Faust stage that runs them is ``pipeline.stages.sink``.
"""
