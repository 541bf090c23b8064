"""The HTTP ingest bridge as an ASGI app: each configured source is one endpoint.

A request passes, in order: route (404/405) → media type (415) → body size (413) → auth (401/403)
→ rate limit (429) → JSON and format parsing (400/422) → alert count (413) → a durable write of every
valid alert (503 if the broker does not acknowledge in time) → 200, or 400 listing the invalid alerts
of a partly valid batch (the valid ones are written, exactly as Alertmanager answers).
The bridge keeps no state between requests, so replicas scale behind any load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from pipeline import wire
from pipeline.bridge import metrics
from pipeline.bridge.auth import check_auth
from pipeline.bridge.openapi import OPENAPI_PATH
from pipeline.bridge.ratelimit import RateLimiters
from pipeline.bridge.sources import Source, SourceRegistry
from pipeline.ingest.errors import AlertProblem, PayloadError, multi_error_text
from pipeline.ingest.formats.alertmanager_alert import record_too_large
from pipeline.ingest.formats import FORMATS, GenericMapping
from pipeline.runtime.producer import OutgoingRecord, ProduceError

log = logging.getLogger(__name__)

JSON_MEDIA_TYPES = ("application/json", "text/json")


class AlertWriter(Protocol):
    """What the bridge needs of a producer (pipeline.runtime.producer.DurableProducer)."""

    async def send_all(self, records: list[OutgoingRecord]) -> None: ...
    async def send_values(self, topic: str, keys: list[bytes], values: list[bytes],
                          partitions: int | None = None) -> None: ...
    def broker_reachable(self, timeout: float = 2.0) -> bool: ...


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status, headers=headers)


@dataclass
class BridgeConfig:
    sources: SourceRegistry
    raw_topic: str
    resolve_timeout: timedelta
    retry_after_s: int = 5
    ack_timeout_s: float = 5.0
    max_record_bytes: int = 262144
    # alerts.raw's partition count: the alerts of a request go as one batch record per partition
    # (pipeline.wire.batch); None writes one record per alert.
    raw_partitions: int | None = None


class Bridge:
    def __init__(self, config: BridgeConfig, writer: AlertWriter):
        self.config = config
        self.writer = writer
        self.limiters = RateLimiters(config.sources)
        # Generic mappings are validated once, at start-up: a bad mapping stops the bridge.
        self.mappings = {
            s.name: GenericMapping.model_validate(s.mapping) for s in config.sources.all() if s.type == "generic"
        }

    # -- the ingest endpoint --------------------------------------------------------------
    async def ingest(self, request: Request) -> Response:
        source = self.config.sources.for_path(request.url.path)
        if source is None:  # routes are built from the registry, so only a disabled source lands here
            return error_response(404, "not_found", f"no source at {request.url.path}")
        started = time.perf_counter()
        try:
            response = await self._ingest(source, request)
        except ApiError as exc:
            response = error_response(exc.status, exc.error, exc.detail, exc.headers)
        metrics.REQUESTS.labels(source.name, str(response.status_code)).inc()
        metrics.REQUEST_SECONDS.labels(source.name).observe(time.perf_counter() - started)
        return response

    async def _ingest(self, source: Source, request: Request) -> Response:
        self._check_media_type(request)
        body = await self._read_body(request, source.limits.max_body_bytes)
        auth = check_auth(source.auth, request.headers, body, time.time())
        if not auth.ok:
            headers = {"WWW-Authenticate": auth.www_authenticate} if auth.www_authenticate else None
            raise ApiError(auth.status, "unauthorized" if auth.status == 401 else "forbidden", auth.reason, headers)
        allowed, retry_after = self.limiters.try_acquire(source.name, now=time.monotonic())
        if not allowed:
            raise ApiError(429, "rate_limited", f"source {source.name!r} is over its rate limit",
                           {"Retry-After": str(int(retry_after))})
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "bad_request", f"request body is not valid JSON: {exc}") from None
        if hasattr(FORMATS[source.type], "parse_records"):
            # Fast path (Alertmanager API v2 and webhook): straight from the decoded JSON to record
            # bytes, with the same rules, messages and bytes as the model path (pipeline.ingest.records).
            batch = self._parse(source, payload, records=True)
            self._check_count(source, batch.total)
            keys, values, problems = batch.keys, batch.values, batch.problems
        else:
            parsed = self._parse(source, payload)
            self._check_count(source, len(parsed.alerts) + len(parsed.problems))
            keys, values, problems = self._records(parsed)
        await self._write(source, keys, values)
        metrics.ALERTS_ACCEPTED.labels(source.name).inc(len(values))
        if problems:
            metrics.ALERTS_REJECTED.labels(source.name).inc(len(problems))
            return error_response(
                400, "invalid_alerts", multi_error_text(problems), accepted=len(values),
                invalid=[{"index": p.index, "reason": p.reason} for p in problems],
            )
        return _success(len(values))

    @staticmethod
    def _check_count(source: Source, total: int) -> None:
        if total > source.limits.max_alerts:
            raise ApiError(413, "payload_too_large",
                           f"{total} alerts in one request; source {source.name!r} accepts at most "
                           f"{source.limits.max_alerts}")

    def _records(self, batch) -> tuple[list[bytes | None], list[bytes], list[AlertProblem]]:
        """Keys and values of the valid alerts' records; an alert whose record is too large is invalid too.

        The text caps of ingest count characters, but JSON spells a control character in six bytes,
        so only the encoded size tells whether the record fits (normalize would dead-letter it).
        """
        keys, values, problems = [], [], list(batch.problems)
        limit = self.config.max_record_bytes
        for index, alert in zip(batch.indices, batch.alerts):
            value = wire.encode(alert)
            if len(value) > limit:
                problems.append(AlertProblem(index, record_too_large(len(value), limit)))
                continue
            keys.append((alert.fingerprint or "").encode() or None)
            values.append(value)
        problems.sort(key=lambda problem: problem.index)
        return keys, values, problems

    @staticmethod
    def _check_media_type(request: Request) -> None:
        content_type = request.headers.get("content-type")
        if content_type is None:
            return  # senders that omit it (some scripts) still send JSON; the parser decides
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in JSON_MEDIA_TYPES or media_type.endswith("+json"):
            return
        raise ApiError(415, "unsupported_media_type", f"Content-Type {media_type!r} is not JSON; send application/json")

    @staticmethod
    async def _read_body(request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "payload_too_large", f"body of {declared} bytes exceeds the source's limit of {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():  # bounded read: a lying or absent Content-Length cannot balloon memory
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"body exceeds the source's limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, source: Source, payload: Any, records: bool = False):
        parser = FORMATS[source.type]
        options = {"mapping": self.mappings[source.name]} if source.type == "generic" else {}
        if records:
            parse, options = parser.parse_records, {"max_record_bytes": self.config.max_record_bytes}
        else:
            parse = parser.parse
        try:
            return parse(payload, source=source.name, received_at=datetime.now(timezone.utc),
                         resolve_timeout=source.resolve_timeout or self.config.resolve_timeout, **options)
        except PayloadError as exc:
            raise ApiError(exc.status, "bad_request" if exc.status == 400 else "unprocessable", exc.message) from None

    async def _write(self, source: Source, keys: list[bytes | None], values: list[bytes]) -> None:
        try:
            await self.writer.send_values(self.config.raw_topic, keys, values, partitions=self.config.raw_partitions)
        except ProduceError as exc:
            metrics.PRODUCE_FAILURES.labels(source.name).inc()
            log.warning("source %s: %d alerts not acknowledged: %s", source.name, len(values), exc)
            # Some alerts of the request may be stored; a retry is safe (dedup merges duplicates).
            raise ApiError(503, "unavailable", f"not every alert was stored: {exc}; retry the request",
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
        routes = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/openapi.yaml", self.openapi, methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
        ]
        for source in self.config.sources.all():
            if source.enabled:
                methods = ["POST", "PUT"] if source.type == "grafana" else ["POST"]
                routes.append(Route(source.path, self.ingest, methods=methods))
        return routes


def _success(accepted: int) -> Response:
    # The body JSONResponse would render, without its generic encoder.
    return Response(b'{"status":"success","accepted":%d}' % accepted, media_type="application/json")


async def _http_error(_request: Request, exc: HTTPException) -> Response:
    names = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, names.get(exc.status_code, "error"), str(exc.detail),
                          dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    # Some alerts may already be stored; retrying is safe because a duplicate raw alert is merged
    # away by dedup downstream.
    return error_response(500, "internal_error", "unexpected error; retry the request")


def build_app(bridge: Bridge, on_shutdown=None, api=None, history=None) -> Starlette:
    """``api``: the Alertmanager API v2 read/silence side (pipeline.api.handlers.AlertmanagerApi), if any;
    its view follows Kafka for the app's lifetime and gates /readyz. ``history``: the history queries
    (pipeline.history.api.HistoryApi), mounted at /api/history."""
    routes = bridge.routes()
    if api is not None:
        routes = [Route("/readyz", api.wrap_readyz(bridge.readyz), methods=["GET"]), *routes, *api.routes()]
    if history is not None:
        routes.append(Mount("/api/history", app=history.app))

    @asynccontextmanager
    async def lifespan(_app):
        if api is not None:
            api.start()
        yield
        if api is not None:
            api.stop()
        if history is not None:
            await history.stop()
        if on_shutdown is not None:
            on_shutdown()

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: _http_error, Exception: _unexpected_error})
