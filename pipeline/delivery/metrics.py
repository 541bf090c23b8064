"""Prometheus metrics of the sink stage (module-level: one registry per process).

Labelled by ``target``: the connector's target_key, which names the endpoint without a secret.
"""

from prometheus_client import Counter, Gauge, Histogram

DELIVERED = Counter("sink_delivered_total", "Notifications the target accepted.", ["target"])
RETRIED = Counter("sink_retried_total", "Notifications sent to a retry tier.", ["target", "tier"])
DEAD_LETTERED = Counter("sink_dead_lettered_total", "Notifications sent to notifications.dlq.",
                        ["target", "error_class"])
SKIPPED = Counter("sink_already_delivered_total",
                  "Redelivered notifications the ledger knew as delivered (not sent again).", ["target"])
REQUEUED = Counter("sink_requeued_total",
                   "Notifications put back uncounted (target backlog full, or in flight elsewhere).", ["target"])
LATENCY = Histogram(
    "sink_delivery_duration_seconds", "One delivery attempt: the target call, as the connector made it.",
    ["target"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BREAKER_STATE = Gauge("sink_breaker_state", "Circuit breaker per target: 0 closed, 1 half-open, 2 open.",
                      ["target"])
QUEUED = Gauge("sink_queued", "Notifications waiting in a target's lane.", ["target"])
LEDGER_ROUND_TRIPS = Counter("sink_ledger_round_trips_total",
                             "Pipelined Redis round trips of the ledger's pending and delivered writes.")
LEDGER_WRITES = Counter("sink_ledger_writes_total",
                        "Ledger pending and delivered writes (writes / round trips = the batch size).")
