"""``/api/history/*``: the history queries over HTTP, a Starlette sub-app the bridge mounts.

Endpoints (documented in pipeline/bridge/openapi.yaml):

    GET /api/history/alerts                              search: filter (matchers), since, until, change, limit, cursor
    GET /api/history/alerts/{fingerprint}/timeline       one alert's changes and notifications
    GET /api/history/top                                 most firings per label value (by) or per alert
    GET /api/history/flapping                            more than `threshold` transitions within `window`
    GET /api/history/firings                             firings per hour or day (a chart's series)
    GET /api/history/receivers                           per receiver: notifications and outcomes
    GET /api/history/receivers/{receiver}/notifications  a receiver's notifications with their outcomes

Errors are the bridge's JSON ``{"error", "detail"}``: 400 for a bad parameter (named), 401/403 when
``history.api_tokens`` is set and the bearer token is missing or wrong, 404 for an alert with no
history, 503 (with Retry-After) when PostgreSQL is unreachable, its schema is not current (the detail
names ``pipeline db migrate``) or a query ran past ``statement_timeout``.

The pool is opened at the first request, so a bridge without PostgreSQL starts and serves everything
else; the schema is checked once per process before the first query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

import psycopg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.api.errors import handle_http_exception
from pipeline.bridge.app import error_response
from pipeline.bridge.auth import check_auth
from pipeline.bridge.sources import BearerAuth
from pipeline.db.migrate import SchemaNotCurrent, require_current_schema
from pipeline.db.pool import DatabaseUnavailable, async_pool
from pipeline.history import queries
from pipeline.history.queries import QueryError
from pipeline.settings import HistorySettings

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
_TRUE = {"1", "true", "yes", "on"}


class NotFound(Exception):
    """Answered 404 with its message."""


class HistoryApi:
    def __init__(self, history: HistorySettings, pool=None, clock=None):
        self.history = history
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._pool = pool
        self._own_pool = pool is None
        self._ready = False
        self._lock = asyncio.Lock()
        tokens = [t.strip() for t in (history.api_tokens.get_secret_value() if history.api_tokens else "").split(",")]
        tokens = [t for t in tokens if t]
        self.auth = BearerAuth.model_validate({"type": "bearer", "tokens": tokens}) if tokens else None
        self.app = Starlette(routes=[
            Route("/alerts", self.search, methods=["GET"]),
            Route("/alerts/{fingerprint}/timeline", self.timeline, methods=["GET"]),
            Route("/top", self.top, methods=["GET"]),
            Route("/flapping", self.flapping, methods=["GET"]),
            Route("/firings", self.firings, methods=["GET"]),
            Route("/receivers", self.receivers, methods=["GET"]),
            Route("/receivers/{receiver}/notifications", self.receiver_notifications, methods=["GET"]),
        ], exception_handlers={HTTPException: handle_http_exception})  # the bridge's JSON 404/405 bodies

    async def stop(self) -> None:
        if self._own_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- plumbing ------------------------------------------------------------------------------------
    async def _connection_pool(self):
        async with self._lock:
            if not self._ready:
                await asyncio.to_thread(require_current_schema, self.history)
                if self._pool is None:
                    self._pool = async_pool(self.history, "history api")
                    await self._pool.open(wait=False)
                self._ready = True
        return self._pool

    async def _answer(self, request: Request, work) -> Response:
        if self.auth is not None:
            verdict = check_auth(self.auth, request.headers, b"", time.time())
            if not verdict.ok:
                headers = {"WWW-Authenticate": verdict.www_authenticate} if verdict.www_authenticate else None
                return error_response(verdict.status, "unauthorized" if verdict.status == 401 else "forbidden",
                                      verdict.reason, headers)
        try:
            pool = await self._connection_pool()
            async with pool.connection() as conn:
                result = await work(conn, self.clock())
        except QueryError as exc:
            return error_response(400, "bad_request", str(exc))
        except NotFound as exc:
            return error_response(404, "not_found", str(exc))
        except (SchemaNotCurrent, DatabaseUnavailable) as exc:
            return error_response(503, "unavailable", str(exc), {"Retry-After": str(RETRY_AFTER_S)})
        except psycopg.errors.QueryCanceled:
            return error_response(503, "timeout", f"the query ran longer than history.statement_timeout_ms "
                                                  f"({self.history.statement_timeout_ms} ms); narrow the time range "
                                                  "or the filter", {"Retry-After": str(RETRY_AFTER_S)})
        except (psycopg.OperationalError, TimeoutError) as exc:  # pool timeout, connection lost
            log.warning("history api: PostgreSQL unavailable: %s", str(exc).splitlines()[0] if str(exc) else exc)
            return error_response(503, "unavailable", "PostgreSQL does not answer", {"Retry-After": str(RETRY_AFTER_S)})
        return Response(queries.as_json_bytes(result), media_type="application/json")

    @staticmethod
    def _rows_of(conn):
        async def rows_of(query):
            cursor = await conn.execute(query.sql, query.params)
            return query.shape(await cursor.fetchall())
        return rows_of

    # -- endpoints -------------------------------------------------------------------------------------
    async def search(self, request: Request) -> Response:
        q = request.query_params

        async def work(conn, now):
            plan = queries.search(self.history, q.getlist("filter"), q.get("since"), q.get("until"),
                                  q.get("limit"), q.get("cursor"), now, q.getlist("change"), _flag(q.get("archive")))
            return await queries.search_page_async(conn, plan, self.history.query_max_scan_rows)
        return await self._answer(request, work)

    async def timeline(self, request: Request) -> Response:
        q = request.query_params
        fingerprint = request.path_params["fingerprint"]

        async def work(conn, now):
            rows_of = self._rows_of(conn)
            page = await rows_of(queries.timeline(self.history, fingerprint, q.get("since"), q.get("until"),
                                                  q.get("limit"), q.get("cursor"), now, _flag(q.get("archive"))))
            if not page.items and not q.get("cursor"):
                table = "alert_changes_archive" if _flag(q.get("archive")) else "alert_changes"
                cursor = await conn.execute(f"SELECT 1 FROM {table} WHERE fingerprint = %s LIMIT 1", (fingerprint,))
                if await cursor.fetchone() is None:
                    raise NotFound(f"no history of alert {fingerprint}")
            span = queries.timeline_span(page)
            notes = (await rows_of(queries.timeline_notifications(fingerprint, *span, self.history.query_max_limit))
                     if span else [])
            return {"fingerprint": fingerprint, "changes": page.items, "notifications": notes,
                    "next_cursor": page.next_cursor}
        return await self._answer(request, work)

    async def top(self, request: Request) -> Response:
        q = request.query_params

        async def work(conn, now):
            return await self._rows_of(conn)(queries.top(self.history, q.get("by"), q.getlist("filter"),
                                                         q.get("since"), q.get("until"), q.get("limit"), now))
        return await self._answer(request, work)

    async def flapping(self, request: Request) -> Response:
        q = request.query_params

        async def work(conn, now):
            return await self._rows_of(conn)(queries.flapping(self.history, q.get("threshold"), q.get("window"),
                                                              q.getlist("filter"), q.get("limit"), now))
        return await self._answer(request, work)

    async def firings(self, request: Request) -> Response:
        q = request.query_params

        async def work(conn, now):
            return await self._rows_of(conn)(queries.firings_over_time(self.history, q.getlist("filter"), q.get("since"),
                                                                       q.get("until"), q.get("step"), now))
        return await self._answer(request, work)

    async def receivers(self, request: Request) -> Response:
        q = request.query_params

        async def work(conn, now):
            return await self._rows_of(conn)(queries.receivers_summary(self.history, q.get("since"), q.get("until"), now))
        return await self._answer(request, work)

    async def receiver_notifications(self, request: Request) -> Response:
        q = request.query_params
        receiver = request.path_params["receiver"]

        async def work(conn, now):
            return await self._rows_of(conn)(queries.receiver_notifications(
                self.history, receiver, q.get("since"), q.get("until"), q.get("limit"), q.get("cursor"), now,
                q.get("outcome")))
        return await self._answer(request, work)


def _flag(text: str | None) -> bool:
    return (text or "").lower() in _TRUE


def create_history_api(history: HistorySettings) -> HistoryApi:
    return HistoryApi(history)
