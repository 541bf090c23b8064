"""``pipeline bridge``: the ingest bridge under uvicorn, with a durable producer per process."""

from __future__ import annotations

import logging

import uvicorn

from pipeline.alertmanager_config import global_resolve_timeout
from pipeline.api.handlers import create_api
from pipeline.bridge.app import Bridge, BridgeConfig, build_app
from pipeline.runtime.producer import DurableProducer
from pipeline.runtime.raw_writer import RawWriter
from pipeline.settings import Settings
from pipeline.sources.model import load_sources

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None):
    """ASGI app factory: uvicorn calls it once in every worker process."""
    settings = settings or Settings()
    config = BridgeConfig(
        # Push sources only: poll and stream sources run in `pipeline sources run`.
        sources=load_sources(settings.bridge.sources_dir, kinds=("push",)),
        resolve_timeout=global_resolve_timeout(settings.alertmanager_config),
        retry_after_s=settings.bridge.retry_after_s,
        ack_timeout_s=settings.bridge.ack_timeout_s,
        max_record_bytes=settings.max_record_bytes,
    )
    producer = DurableProducer(settings.kafka, delivery_timeout_s=settings.bridge.ack_timeout_s)
    writer = RawWriter.from_settings(settings, settings.bridge.ack_timeout_s, producer=producer)

    def flush_in_flight() -> None:
        # Graceful shutdown: uvicorn has stopped accepting and finished requests; deliver what is queued.
        undelivered = writer.close(timeout=settings.bridge.ack_timeout_s * 2)
        if undelivered:
            log.error("%d records undelivered at shutdown (their requests were not answered 2xx)", undelivered)

    # The Alertmanager API v2 read/silence side: silences are written with the same durable producer.
    api = create_api(settings, producer)
    return build_app(Bridge(config, writer), on_shutdown=flush_in_flight, api=api)


def run(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Fail fast with a clear message on bad sources before uvicorn forks workers.
    load_sources(settings.bridge.sources_dir, kinds=("push",))
    uvicorn.run(
        "pipeline.bridge.server:create_app", factory=True,
        host=settings.bridge.host, port=settings.bridge.port, workers=settings.bridge.workers,
        log_level=settings.log_level.lower(), access_log=False, timeout_graceful_shutdown=30,
    )
