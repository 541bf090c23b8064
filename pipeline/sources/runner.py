"""``pipeline sources run``: one process running the enabled poll and stream sources, each as its own
supervised task, all writing through one RawWriter (the bridge's durable write to alerts.raw).

Why a process of its own, and not inside the bridge: the bridge is stateless and runs as several
uvicorn workers behind a load balancer, so every poll would run once per worker and replica; a
source's upstream trouble (a dead Prometheus, an expired Kubernetes watch) must not touch the
readiness of the endpoint senders post to; and the runner scales on its own terms (one per set of
upstreams, or two for HA: their duplicates are equal records, absorbed by dedup). Push sources stay
in the bridge, whose /readyz stays what it was.

Endpoints (``sources.host``:``sources.port``): ``/healthz`` (the process answers), ``/readyz`` (200
when the broker answers and every source is ``ok`` or ``degraded``, else 503 with each source's
state), ``/sources`` (each source's health, detail and counters, no settings), ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterable

import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.alertmanager_config import global_resolve_timeout
from pipeline.runtime.raw_writer import RawWriter
from pipeline.settings import Settings
from pipeline.sources.base import SourceBase, SourceContext, wait_or_stop
from pipeline.sources.model import Source, SourceError, load_sources

log = logging.getLogger(__name__)

RUNNER_KINDS = ("poll", "stream")
READY_STATES = ("ok", "degraded")


def build_source(source: Source, writer: RawWriter, context: SourceContext) -> SourceBase:
    """The running source of a declared one (imports only what its type needs)."""
    if source.type == "nats":
        from pipeline.sources.nats import NatsSource

        return NatsSource(source, writer, context)
    if source.type == "kubernetes":
        from pipeline.sources.kubernetes import KubernetesSource

        return KubernetesSource(source, writer, context)
    from pipeline.sources.poll import PollSource

    return PollSource(source, writer, context)


def select_sources(settings: Settings, only: Iterable[str] = ()) -> list[Source]:
    """The enabled poll and stream sources of the sources directory (or the named ones); SourceError
    for a name that is not one of them."""
    registry = load_sources(settings.bridge.sources_dir, kinds=RUNNER_KINDS)
    wanted = list(only)
    unknown = [name for name in wanted if registry.get(name) is None]
    if unknown:
        raise SourceError(f"no poll or stream source named {', '.join(map(repr, unknown))} in "
                          f"{settings.bridge.sources_dir}")
    chosen = [s for s in registry.of_kind(*RUNNER_KINDS) if s.enabled and (not wanted or s.name in wanted)]
    if not chosen:
        raise SourceError(f"{settings.bridge.sources_dir}: no enabled poll or stream source to run")
    from pipeline.sources.check import mapping_problems

    problems = [line for source in chosen for line in mapping_problems(source)]
    if problems:  # a bad mapping stops the runner at start, as it stops the bridge
        raise SourceError("\n".join(problems))
    return chosen


class SourceRunner:
    def __init__(self, sources: list[SourceBase], writer: RawWriter, restart_backoff_s: float):
        self.sources = sources
        self.writer = writer
        self.restart_backoff_s = restart_backoff_s
        self.stop = asyncio.Event()
        self._broker = (0.0, False)  # (checked at, reachable): /readyz asks at most once a second

    async def run(self) -> None:
        await asyncio.gather(*(self._supervise(source) for source in self.sources))

    async def _supervise(self, source: SourceBase) -> None:
        """Run a source until stop; an unexpected error is logged and the source restarted after a pause."""
        while not self.stop.is_set():
            try:
                await source.run(self.stop)
            except Exception as exc:  # noqa: BLE001 - one source's bug must not stop the others
                log.exception("source %s failed; restarting in %.0f s", source.name, self.restart_backoff_s)
                source.set_health("failing", f"crashed: {type(exc).__name__}: {exc}"[:500])
                await wait_or_stop(self.stop, self.restart_backoff_s)

    async def broker_reachable(self) -> bool:
        checked_at, reachable = self._broker
        if time.monotonic() - checked_at > 1.0:
            reachable = await asyncio.to_thread(self.writer.broker_reachable, 2.0)
            self._broker = (time.monotonic(), reachable)
        return reachable

    # -- endpoints ------------------------------------------------------------------------------------
    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(self, _request: Request) -> Response:
        states = {source.name: source.health.state for source in self.sources}
        problems = [f"{name}: {state}" for name, state in states.items() if state not in READY_STATES]
        if not await self.broker_reachable():
            problems.insert(0, "the Kafka broker does not answer")
        if problems:
            return JSONResponse({"error": "unavailable", "detail": "; ".join(problems), "sources": states},
                                status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "sources": states})

    async def sources_status(self, _request: Request) -> Response:
        return Response(orjson.dumps([source.status() for source in self.sources]), media_type="application/json")

    async def metrics(self, _request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/sources", self.sources_status, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ])


class _Server(uvicorn.Server):
    # The runner owns SIGTERM/SIGINT (stop the sources, then flush the writer); uvicorn would re-raise
    # them after serving and end the process before the flush.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve(settings: Settings, sources: list[Source]) -> None:
    writer = RawWriter.from_settings(settings, settings.sources.ack_timeout_s)
    context = SourceContext(resolve_timeout=global_resolve_timeout(settings.alertmanager_config),
                            max_record_bytes=settings.max_record_bytes)
    runner = SourceRunner([build_source(s, writer, context) for s in sources], writer,
                          settings.sources.restart_backoff_s)
    server = _Server(uvicorn.Config(runner.app(), host=settings.sources.host, port=settings.sources.port,
                                    log_level=settings.log_level.lower(), access_log=False, lifespan="off"))
    loop = asyncio.get_running_loop()

    def shutdown() -> None:
        log.info("stopping: sources finish their current batch, then the writer flushes")
        runner.stop.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown)
    log.info("running %d sources: %s", len(sources), ", ".join(f"{s.name} ({s.type})" for s in sources))
    serving = asyncio.ensure_future(server.serve())
    try:
        await runner.run()
    finally:
        server.should_exit = True
        await serving
        undelivered = await asyncio.to_thread(writer.close, settings.sources.ack_timeout_s * 2)
        if undelivered:
            log.error("%d records undelivered at shutdown (their upstream messages were not acked)", undelivered)


def run(settings: Settings, only: Iterable[str] = ()) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sources = select_sources(settings, only)
    asyncio.run(serve(settings, sources))
