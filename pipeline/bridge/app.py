"""The HTTP ingest bridge as an ASGI app: each configured source is one endpoint.

A request passes, in order: the access layer (pipeline.web.access: web authentication and the
``ingest`` role, 401/403) → route (404/405) → media type (415) → body size (413) → the source's own
auth (401/403) → rate limit (429) → JSON and format parsing (400/422) → alert count (413) → a durable write of every
valid alert (503 if the broker does not acknowledge in time) → 200, or 400 listing the invalid alerts
of a partly valid batch (the valid ones are written, exactly as Alertmanager answers).
The bridge keeps no state between requests, so replicas scale behind any load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from pipeline.api.errors import ApiError, handle_api_error, handle_http_exception
from pipeline.bridge import metrics
from pipeline.bridge.auth import check_auth
from pipeline.bridge.openapi import OPENAPI_PATH
from pipeline.bridge.ratelimit import RateLimiters
from pipeline.ingest.errors import PayloadError, multi_error_text
from pipeline.ingest.formats import FORMATS, GenericMapping, SourceStamp
from pipeline.runtime.raw_writer import ProduceError, RawWriter
from pipeline.sources.base import SourceMetrics, encode_alerts, problem_reason
from pipeline.sources.model import Source, SourceRegistry
from pipeline.web.access import AccessMiddleware, AccessPolicy, Authenticator, Requirement
from pipeline.web.config import Role
from pipeline.ui import MOUNT_PATH as UI_MOUNT_PATH
from pipeline.ui import build_ui_app

log = logging.getLogger(__name__)

JSON_MEDIA_TYPES = ("application/json", "text/json")


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> Response:
    return ApiError.problem(status, error, detail, headers, **extra).response()


@dataclass
class BridgeConfig:
    sources: SourceRegistry  # the push sources (pipeline.sources.model)
    resolve_timeout: timedelta
    retry_after_s: int = 5
    ack_timeout_s: float = 5.0
    max_record_bytes: int = 262144


class Bridge:
    def __init__(self, config: BridgeConfig, writer: RawWriter):
        """``writer``: the durable write to alerts.raw every source shares (pipeline.runtime.raw_writer)."""
        self.config = config
        self.writer = writer
        pushed = config.sources.of_kind("push")
        self.limiters = RateLimiters(pushed)
        # Generic mappings are validated once, at start-up: a bad mapping stops the bridge.
        self.mappings = {s.name: GenericMapping.model_validate(s.mapping) for s in pushed if s.type == "generic"}
        self.stamps = {s.name: SourceStamp(labels=s.labels) if s.labels else None for s in pushed}
        self.source_metrics = {s.name: SourceMetrics(s.name, "push") for s in pushed}

    # -- the ingest endpoint --------------------------------------------------------------
    async def ingest(self, request: Request) -> Response:
        source = self.config.sources.for_path(request.url.path)
        if source is None:  # routes are built from the registry, so only a disabled source lands here
            return error_response(404, "not_found", f"no source at {request.url.path}")
        started = time.perf_counter()
        try:
            response = await self._ingest(source, request)
        except ApiError as exc:
            response = exc.response()
            reason = _REJECT_REASONS.get(exc.status)
            if reason is not None:
                self.source_metrics[source.name].rejected(reason)
        metrics.REQUESTS.labels(source.name, str(response.status_code)).inc()
        metrics.REQUEST_SECONDS.labels(source.name).observe(time.perf_counter() - started)
        return response

    async def _ingest(self, source: Source, request: Request) -> Response:
        self._check_media_type(request)
        body = await self._read_body(request, source.limits.max_body_bytes)
        auth = check_auth(source.auth, request.headers, body, time.time())
        if not auth.ok:
            headers = {"WWW-Authenticate": auth.www_authenticate} if auth.www_authenticate else None
            raise ApiError.problem(auth.status, "unauthorized" if auth.status == 401 else "forbidden", auth.reason, headers)
        allowed, retry_after = self.limiters.try_acquire(source.name, now=time.monotonic())
        if not allowed:
            raise ApiError.problem(429, "rate_limited", f"source {source.name!r} is over its rate limit",
                           {"Retry-After": str(int(retry_after))})
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError.problem(400, "bad_request", f"request body is not valid JSON: {exc}") from None
        received = datetime.now(timezone.utc)
        if hasattr(FORMATS[source.type], "parse_records"):
            # Fast path (Alertmanager API v2 and webhook): straight from the decoded JSON to record
            # bytes, with the same rules, messages and bytes as the model path (pipeline.ingest.records).
            batch = self._parse(source, payload, received, records=True)
            self._check_count(source, batch.total)
            keys, values, problems = batch.keys, batch.values, batch.problems
        else:
            parsed = self._parse(source, payload, received)
            self._check_count(source, len(parsed.alerts) + len(parsed.problems))
            keys, values, problems = encode_alerts(parsed, self.config.max_record_bytes)
        # Every record of the request carries its receipt (rounded up to the ms) as its timestamp.
        await self._write(source, keys, values, math.ceil(received.timestamp() * 1000))
        source_metrics = self.source_metrics[source.name]
        source_metrics.received(len(values))
        source_metrics.succeeded()
        if problems:
            for problem in problems:
                source_metrics.rejected(problem_reason(problem))
            return error_response(
                400, "invalid_alerts", multi_error_text(problems), accepted=len(values),
                invalid=[{"index": p.index, "reason": p.reason} for p in problems],
            )
        return _success(len(values))

    @staticmethod
    def _check_count(source: Source, total: int) -> None:
        if total > source.limits.max_alerts:
            raise ApiError.problem(413, "payload_too_large",
                           f"{total} alerts in one request; source {source.name!r} accepts at most "
                           f"{source.limits.max_alerts}")

    @staticmethod
    def _check_media_type(request: Request) -> None:
        content_type = request.headers.get("content-type")
        if content_type is None:
            return  # senders that omit it (some scripts) still send JSON; the parser decides
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in JSON_MEDIA_TYPES or media_type.endswith("+json"):
            return
        raise ApiError.problem(415, "unsupported_media_type", f"Content-Type {media_type!r} is not JSON; send application/json")

    @staticmethod
    async def _read_body(request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError.problem(413, "payload_too_large", f"body of {declared} bytes exceeds the source's limit of {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():  # bounded read: a lying or absent Content-Length cannot balloon memory
            size += len(chunk)
            if size > limit:
                raise ApiError.problem(413, "payload_too_large", f"body exceeds the source's limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, source: Source, payload: Any, received_at: datetime, records: bool = False):
        parser = FORMATS[source.type]
        options: dict[str, Any] = {"mapping": self.mappings[source.name]} if source.type == "generic" else {}
        if records:
            parse, options = parser.parse_records, {"max_record_bytes": self.config.max_record_bytes}
        else:
            parse = parser.parse
        try:
            return parse(payload, source=source.name, received_at=received_at,
                         resolve_timeout=source.resolve_timeout or self.config.resolve_timeout,
                         stamp=self.stamps[source.name], **options)
        except PayloadError as exc:
            raise ApiError.problem(exc.status, "bad_request" if exc.status == 400 else "unprocessable", exc.message) from None

    async def _write(self, source: Source, keys: list[bytes | None], values: list[bytes], received_ms: int) -> None:
        try:
            await self.writer.write(keys, values, received_ms)
        except ProduceError as exc:
            metrics.PRODUCE_FAILURES.labels(source.name).inc()
            self.source_metrics[source.name].rejected("unavailable", len(values))
            log.warning("source %s: %d alerts not acknowledged: %s", source.name, len(values), exc)
            # Some alerts of the request may be stored; a retry is safe (dedup merges duplicates).
            raise ApiError.problem(503, "unavailable", f"not every alert was stored: {exc}; retry the request",
                           {"Retry-After": str(self.config.retry_after_s)}) from None

    # -- operations ---------------------------------------------------------------------------
    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(self, _request: Request) -> Response:
        if await asyncio.to_thread(self.writer.broker_reachable, 2.0):
            return JSONResponse({"status": "ready"})
        return error_response(503, "unavailable", "the Kafka broker does not answer",
                              {"Retry-After": str(self.config.retry_after_s)})

    async def metrics(self, _request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, _request: Request) -> Response:
        return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml")

    async def openapi_json(self, _request: Request) -> Response:
        from pipeline.bridge.openapi import openapi_document

        return Response(orjson.dumps(openapi_document()), media_type="application/json")

    def routes(self) -> list[Route]:
        return [route for route, _ in self.protected_routes()]

    def protected_routes(self) -> list[tuple[Route, Requirement]]:
        """Every route with the role it needs (pipeline.web.access): operations need ``read`` (the
        liveness probe is public through ``web.public_paths``), each source's path ``ingest`` with the
        source's own authentication noted."""
        read = Requirement(Role.READ)
        routes = [
            (Route("/healthz", self.healthz, methods=["GET"]), read),
            (Route("/readyz", self.readyz, methods=["GET"]), read),
            (Route("/metrics", self.metrics, methods=["GET"]), read),
            (Route("/openapi.yaml", self.openapi, methods=["GET"]), read),
            (Route("/openapi.json", self.openapi_json, methods=["GET"]), read),
        ]
        for source in self.config.sources.of_kind("push"):
            if source.enabled:
                methods = ["POST", "PUT"] if source.type == "grafana" else ["POST"]
                routes.append((Route(source.path, self.ingest, methods=methods),
                               Requirement(Role.INGEST, source_auth=source.auth.type)))
        return routes


# The refusals of a whole request counted per source (pipeline_source_alerts_rejected_total); 503 is
# counted per alert where the write fails, 404/405/415 are not a source's doing.
_REJECT_REASONS = {400: "bad_payload", 422: "bad_payload", 401: "unauthorized", 403: "unauthorized",
                   413: "too_large", 429: "rate_limited"}


LOOP_HEARTBEAT_S = 0.1


async def _measure_loop_lag() -> None:
    """Sleep 100 ms at a time and record how much later than due the loop woke: every request of the
    process (ingest included) waits at least that long meanwhile (metric bridge_event_loop_lag_seconds)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LOOP_HEARTBEAT_S
        await asyncio.sleep(LOOP_HEARTBEAT_S)
        metrics.EVENT_LOOP_LAG_SECONDS.observe(max(0.0, loop.time() - due))


def _success(accepted: int) -> Response:
    # The body JSONResponse would render, without its generic encoder.
    return Response(b'{"status":"success","accepted":%d}' % accepted, media_type="application/json")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    # Some alerts may already be stored; retrying is safe because a duplicate raw alert is merged
    # away by dedup downstream.
    return error_response(500, "internal_error", "unexpected error; retry the request")


def build_app(bridge: Bridge, on_shutdown=None, api=None, history=None, *, authenticator: Authenticator | None = None,
              public_paths: Iterable[str] = ("/healthz",), max_body_bytes: int = 1 << 20) -> ASGIApp:
    """``api``: the Alertmanager API v2 read/silence side (pipeline.api.handlers.AlertmanagerApi), if any;
    its view follows Kafka for the app's lifetime and gates /readyz. With it comes the web UI at /ui.
    ``history``: the history queries (pipeline.history.api.HistoryApi), mounted at /api/history.

    Every route is declared with its role and served behind :class:`~pipeline.web.access.AccessMiddleware`
    (``authenticator``: the web configuration's credentials; none: every caller has every role)."""
    policy = AccessPolicy()
    protected = bridge.protected_routes()
    if api is not None:
        readyz = [(Route("/readyz", api.wrap_readyz(bridge.readyz), methods=["GET"]), Requirement(Role.READ))]
        protected = [*readyz, *[(r, q) for r, q in protected if r.path != "/readyz"], *api.protected_routes()]
        # The operator UI (a client of that API): its pages and assets for whoever may read.
        protected.append((Mount(UI_MOUNT_PATH, app=build_ui_app()), Requirement(Role.READ)))
    if history is not None:
        protected.append((Mount("/api/history", app=history.app), Requirement(Role.READ)))
    for route, requirement in protected:
        policy.protect(route, requirement)
    authenticator = authenticator or Authenticator()

    @asynccontextmanager
    async def lifespan(_app):
        if api is not None:
            api.start()
        heartbeat = asyncio.create_task(_measure_loop_lag())
        yield
        heartbeat.cancel()
        if api is not None:
            api.stop()
        authenticator.close()
        if history is not None:
            await history.stop()
        if on_shutdown is not None:
            on_shutdown()

    app = Starlette(routes=policy.routes, lifespan=lifespan,
                    exception_handlers={ApiError: handle_api_error, HTTPException: handle_http_exception,
                                        Exception: _unexpected_error})
    return AccessMiddleware(app, policy, authenticator, public_paths=public_paths, max_body_bytes=max_body_bytes)
