"""``pipeline bridge``: the ingest bridge under uvicorn, with a durable producer per process."""

from __future__ import annotations

import logging

import uvicorn

from pipeline.alertmanager_config import global_resolve_timeout
from pipeline.api.handlers import create_api
from pipeline.bridge.app import Bridge, BridgeConfig, build_app
from pipeline.bridge.sources import load_sources
from pipeline.history.api import create_history_api
from pipeline.runtime.producer import DurableProducer
from pipeline.settings import Settings
from pipeline.topology import load_topology

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None):
    """ASGI app factory: uvicorn calls it once in every worker process."""
    settings = settings or Settings()
    config = BridgeConfig(
        sources=load_sources(settings.bridge.sources_dir),
        raw_topic=settings.topic("alerts.raw"),
        resolve_timeout=global_resolve_timeout(settings.alertmanager_config),
        retry_after_s=settings.bridge.retry_after_s,
        ack_timeout_s=settings.bridge.ack_timeout_s,
        max_record_bytes=settings.max_record_bytes,
        raw_partitions=load_topology(settings.topics.topology_file).topics["alerts.raw"].partitions,
    )
    producer = DurableProducer(settings.kafka, delivery_timeout_s=settings.bridge.ack_timeout_s)

    def flush_in_flight() -> None:
        # Graceful shutdown: uvicorn has stopped accepting and finished requests; deliver what is queued.
        undelivered = producer.close(timeout=settings.bridge.ack_timeout_s * 2)
        if undelivered:
            log.error("%d records undelivered at shutdown (their requests were not answered 2xx)", undelivered)

    # The Alertmanager API v2 read/silence side: silences are written with the same durable producer.
    api = create_api(settings, producer)
    history = create_history_api(settings.history)  # opens its PostgreSQL pool at the first request
    return build_app(Bridge(config, producer), on_shutdown=flush_in_flight, api=api, history=history)


def run(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Fail fast with a clear message on bad sources before uvicorn forks workers.
    load_sources(settings.bridge.sources_dir)
    uvicorn.run(
        "pipeline.bridge.server:create_app", factory=True,
        host=settings.bridge.host, port=settings.bridge.port, workers=settings.bridge.workers,
        log_level=settings.log_level.lower(), access_log=False, timeout_graceful_shutdown=30,
    )
