"""Prometheus metrics of the bridge (module-level: one registry per process)."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter("bridge_requests_total", "Ingest requests by source and HTTP status.", ["source", "status"])
REQUEST_SECONDS = Histogram(
    "bridge_request_duration_seconds", "Ingest request latency, including the durable write.", ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Alerts received and rejected per source are the metrics every source shares (pipeline.sources.base):
# pipeline_source_alerts_received_total, pipeline_source_alerts_rejected_total{reason}, ...
PRODUCE_FAILURES = Counter(
    "bridge_produce_failures_total", "Requests answered 503 because the broker did not acknowledge.", ["source"]
)
EVENT_LOOP_LAG_SECONDS = Histogram(
    "bridge_event_loop_lag_seconds",
    "How late the event loop woke a 100 ms heartbeat: time it spent unable to serve any request.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
