"""Prometheus metrics of the history and flapping stages (module-level: one registry per process)."""

from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter("history_rows_written_total", "Rows inserted (replays and duplicates not counted).", ["table"])
ROWS_OFFERED = Counter("history_rows_offered_total", "Rows the history stage wrote or found already stored.", ["table"])
ROWS_DROPPED = Counter("history_rows_dropped_total",
                       "Rows not stored: older than the retention (their day is archived).", ["table"])
WRITE_SECONDS = Histogram(
    "history_write_duration_seconds", "One batch written to PostgreSQL (one transaction), retries excluded.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WRITE_FAILURES = Counter("history_write_failures_total", "Batch writes that failed and were retried.")
BUFFERED = Gauge("history_buffered_rows", "Rows buffered or being written, not yet in PostgreSQL.")
FLAPPING_ALERTS = Gauge("history_flapping_alerts", "Alerts in this process's flapping set.")
FLAPPING_REFRESH_FAILURES = Counter("history_flapping_refresh_failures_total",
                                    "Refreshes of the flapping set that failed (the last answer stands).")
FLAPPING_MARKED = Counter("history_flapping_marked_total", "Records the flapping stage marked.")
