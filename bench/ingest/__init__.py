"""Benchmark: alerts/s and request latency of the HTTP ingest bridge against Alertmanager 0.25.

    python -m bench.ingest [--duration 10] [--concurrency 16] [--bridge-workers 1]

See ``bench/ingest/__main__.py`` for what is measured and how; results go to ``bench/ingest/RESULTS.md``.
"""
