"""``pipeline bridge``: the ingest bridge under uvicorn, with a durable producer per process."""

from __future__ import annotations

import functools
import logging
import threading

import uvicorn

from pipeline.alertmanager_config import global_resolve_timeout
from pipeline.api.handlers import create_api
from pipeline.api.view import SILENCES_TOPIC
from pipeline.bridge.app import Bridge, BridgeConfig, build_app
from pipeline.history.api import create_history_api
from pipeline.runtime.producer import DurableProducer
from pipeline.runtime.raw_writer import RawWriter
from pipeline.settings import Settings
from pipeline.web.access import Authenticator
from pipeline.web.config import RefusedToListen, is_loopback, listen_refusal, load_web_config
from pipeline.web.tls import build_context, reload_certificate, uvicorn_context_factory
from pipeline.sources.model import load_sources

log = logging.getLogger(__name__)


def _warm_up(producer: DurableProducer, topics: list[str]) -> None:
    """The topics' metadata and the producer's connection and id fetched now, in the background, so the
    first POST does not pay them (measured ~50 ms on this machine's loopback broker)."""
    def run() -> None:
        try:
            producer.warm_up(topics)
        except Exception as exc:  # noqa: BLE001 - an optimisation; the first write fetches it anyway
            log.warning("could not fetch the topics' metadata ahead: %s", exc)

    threading.Thread(target=run, name="kafka-warm-up", daemon=True).start()


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
    authenticator = Authenticator(load_web_config(settings.web.config_file), on_reload=reload_certificate)
    producer = DurableProducer(settings.kafka, delivery_timeout_s=settings.bridge.ack_timeout_s)
    writer = RawWriter.from_settings(settings, settings.bridge.ack_timeout_s, producer=producer)
    _warm_up(producer, [writer.raw_topic, writer.dlq_topic, settings.topic(SILENCES_TOPIC)])

    def flush_in_flight() -> None:
        # Graceful shutdown: uvicorn has stopped accepting and finished requests; deliver what is queued.
        undelivered = writer.close(timeout=settings.bridge.ack_timeout_s * 2)
        if undelivered:
            log.error("%d records undelivered at shutdown (their requests were not answered 2xx)", undelivered)

    # The Alertmanager API v2 read/silence side: silences are written with the same durable producer.
    api = create_api(settings, producer)
    history = create_history_api(settings.history)  # opens its PostgreSQL pool at the first request
    return build_app(Bridge(config, writer), on_shutdown=flush_in_flight, api=api, history=history, authenticator=authenticator,
                     public_paths=settings.web.public_paths, max_body_bytes=settings.web.max_body_bytes)


def run(settings: Settings) -> None:
    """Start uvicorn; raises WebConfigError or RefusedToListen (before listening) on an unsafe setup."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Fail fast with a clear message on bad sources or web configuration before uvicorn forks workers.
    load_sources(settings.bridge.sources_dir, kinds=("push",))
    web = load_web_config(settings.web.config_file)
    refusal = listen_refusal(settings.bridge.host, web, settings.web.insecure)
    if refusal is not None:
        raise RefusedToListen(refusal)
    if not web.authenticates and not is_loopback(settings.bridge.host):
        log.warning("listening on %s WITHOUT authentication (web.insecure): anyone who reaches it may read "
                    "alerts, post alerts and create silences", settings.bridge.host)
    tls = {}
    if web.tls is not None:
        build_context(web.tls)  # the certificate, key and CA files load, or the error names them
        # Each worker process builds its own context from the file (an SSLContext cannot be pickled).
        tls["ssl_context_factory"] = functools.partial(uvicorn_context_factory, str(settings.web.config_file))
    uvicorn.run(
        "pipeline.bridge.server:create_app", factory=True,
        host=settings.bridge.host, port=settings.bridge.port, workers=settings.bridge.workers,
        log_level=settings.log_level.lower(), access_log=False, timeout_graceful_shutdown=30, **tls,
    )
