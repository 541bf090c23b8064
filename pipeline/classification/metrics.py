"""Prometheus metrics of relabeling, classification and enrichment (``/metrics`` on the worker's
web port, ``worker.web_port``)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

RELABEL_DROPPED = Counter("pipeline_relabel_dropped_alerts_total",
                          "Alerts dropped by a relabel keep/drop rule (index:action)", ["rule"])
CLASSIFIED = Counter("pipeline_classified_alerts_total", "Alerts classified, by who decided", ["classified_by"])
LLM_OUTCOMES = Counter("pipeline_llm_outcomes_total",
                       "Model answers by where they came from (l1, l2, model) or failed", ["outcome"])
ENRICHMENT_ERRORS = Counter("pipeline_enrichment_errors_total", "Enrichment actions that failed")


def add_metrics_page(app) -> None:
    """Serve the process's metrics on the Faust worker's web server."""

    @app.page("/metrics")
    async def metrics_page(web, request):
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
