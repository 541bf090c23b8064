"""Alertmanager API v2, the read and silence side, as thin Starlette handlers over :class:`ApiView`.

Shapes, status codes and error bodies are Alertmanager 0.25's (api/v2/api.go, checked against a running
0.25.0): JSON field names, times as go-openapi ``strfmt.DateTime`` (RFC 3339, UTC, milliseconds), a
plain JSON string as the body of a 400/404 answer from a handler, and go-openapi's
``{"code", "message"}`` object for a request that fails the OpenAPI validation (422, or 400 for an
unparseable body). So ``amtool`` works against the bridge unchanged.

``config.original`` in ``/status`` is the configuration as Alertmanager 0.25 re-marshals it, every
secret shown as ``<secret>`` (pipeline.amconfig.marshal), never the file's text.

Deliberate differences (each also in the README):

* ``DELETE /silence/{id}`` of an unknown id answers 404 (0.25 answers 500 "silence not found", a bug
  fixed in later releases, which answer 404).
* A write (POST/DELETE of a silence) is answered only once the broker acknowledged it (acks=all)
  *and* this process's view has read it back, so a query right after sees it; if either takes longer
  than the bound, 503 with ``Retry-After``.
* Before the view has read both topics up to their end offsets at start, every endpoint here answers
  503 (and /readyz says why) rather than answer from a partial view.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline import __version__, wire
from pipeline.amconfig import AlertmanagerConfig
from pipeline.amconfig.marshal import status_yaml
from pipeline.api.errors import ApiError
from pipeline.api.errors import json_response as _json
from pipeline.api.view import AlertStatus, ApiView
from pipeline.matchers import Matcher, MatcherError, Matchers, MatchType, parse_matcher
from pipeline.models import Alert, Silence
from pipeline.models import Matcher as MatcherModel
from pipeline.muting.silences import SilenceError, SilenceNotFound, apply_post, expire
from pipeline.runtime.producer import OutgoingRecord, ProduceError
from pipeline.routing import Route as TreeRoute
from pipeline.routing import group_labels
from pipeline.web.access import Requirement
from pipeline.web.config import Role

log = logging.getLogger(__name__)

PREFIX = "/api/v2"
ALERTMANAGER_VERSION = "0.25.0"  # the API semantics served
_GO_ZERO_TIME = "0001-01-01T00:00:00.000Z"
# go-openapi strfmt UUID (case-insensitive, hyphens optional).
_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
# swag.ConvertBool: these (lower-cased) are true, anything else false.
_TRUE = frozenset({"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"})
_FRACTION = re.compile(r"(\.\d{6})\d+")


# --- JSON shapes ---------------------------------------------------------------------------------

def go_time(t: datetime | None) -> str:
    """strfmt.DateTime's JSON: RFC 3339 with milliseconds (truncated), here always UTC."""
    if t is None:
        return _GO_ZERO_TIME
    t = t.astimezone(timezone.utc)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}."
            f"{t.microsecond // 1000:03d}Z")


def alert_json(alert: Alert, status: AlertStatus, receivers: Iterable[str]) -> dict[str, Any]:
    """AlertToOpenAPIAlert (GettableAlert), keys in Alertmanager's order."""
    out: dict[str, Any] = {
        "annotations": dict(alert.annotations),
        "endsAt": go_time(alert.ends_at),
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": name} for name in receivers],
        "startsAt": go_time(alert.starts_at),
        "status": {"inhibitedBy": list(status.inhibited_by), "silencedBy": list(status.silenced_by),
                   "state": status.state},
        "updatedAt": go_time(alert.updated_at),
    }
    if alert.generator_url:
        out["generatorURL"] = alert.generator_url
    out["labels"] = dict(alert.labels)
    return out


def silence_state(silence: Silence, now: datetime) -> str:
    """types.CalcSilenceState, which the API shows: pending before startsAt, active before endsAt."""
    if now < silence.starts_at:
        return "pending"
    if now < silence.ends_at:
        return "active"
    return "expired"


def silence_json(silence: Silence, now: datetime) -> dict[str, Any]:
    """GettableSilenceFromProto, keys in Alertmanager's order."""
    return {
        "id": silence.id,
        "status": {"state": silence_state(silence, now)},
        "updatedAt": go_time(silence.updated_at),
        "comment": silence.comment,
        "createdBy": silence.created_by,
        "endsAt": go_time(silence.ends_at),
        "matchers": [{"isEqual": m.is_equal, "isRegex": m.is_regex, "name": m.name, "value": m.value}
                     for m in silence.matchers],
        "startsAt": go_time(silence.starts_at),
    }


_STATE_ORDER = {"active": 1, "pending": 2, "expired": 3}


def sort_silences(items: list[dict[str, Any]]) -> None:
    """SortSilences: active (next to end first), pending (next to start first), expired (latest
    ended first). The RFC 3339 strings are all UTC and equally long, so they compare as times."""
    def key(item: dict[str, Any]) -> tuple:
        state = item["status"]["state"]
        if state == "active":
            return (1, item["endsAt"])
        if state == "pending":
            return (2, item["startsAt"])
        return (3, _Reverse(item["endsAt"]))
    items.sort(key=key)


@functools.total_ordering
class _Reverse:
    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value

    def __lt__(self, other: _Reverse) -> bool:
        return self.value > other.value


def labels_before(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """prometheus/common LabelSet.Before."""
    if len(a) != len(b):
        return len(a) < len(b)
    for name in sorted([*a, *b]):
        if name not in a:
            return True
        if name not in b:
            return False
        if a[name] != b[name]:
            return a[name] < b[name]
    return False


def _labels_cmp(a: Mapping[str, str], b: Mapping[str, str]) -> int:
    return -1 if labels_before(a, b) else (1 if labels_before(b, a) else 0)


def _alert_cmp(a: Alert, b: Alert) -> int:
    """types.AlertSlice.Less: by labels job, then instance (present first), then LabelSet.Before."""
    for key in ("job", "instance"):
        av, bv = a.labels.get(key), b.labels.get(key)
        if av is None and bv is None:
            continue
        if av is None:
            return 1
        if bv is None:
            return -1
        if av != bv:
            return -1 if av < bv else 1
    return _labels_cmp(a.labels, b.labels)


# --- query parameters ----------------------------------------------------------------------------

def bool_param(query: Any, name: str, default: bool = True) -> bool:
    """go-openapi's boolean query parameter: the last value; empty or absent is the default."""
    values = query.getlist(name)
    if not values or values[-1] == "":
        return default
    return values[-1].strip().lower() in _TRUE


def parse_filter(values: Iterable[str]) -> Matchers:
    """parseFilter: each ``filter`` value is one matcher (labels.ParseMatcher); 400 with its text."""
    try:
        return Matchers(parse_matcher(value) for value in values)
    except MatcherError as exc:
        raise ApiError(400, str(exc)) from None
    except RecursionError:
        raise ApiError(400, "error parsing regexp: expression nests too deeply") from None


def receiver_filter(query: Any) -> Matcher | None:
    values = query.getlist("receiver")
    if not values or values[-1] == "":
        return None
    try:
        return Matcher("receiver", MatchType.REGEX, values[-1])
    except MatcherError as exc:
        raise ApiError(400, f"failed to parse receiver param: {exc}") from None
    except RecursionError:
        raise ApiError(400, "failed to parse receiver param: error parsing regexp: expression nests "
                            "too deeply") from None


def filter_matches(matchers: Matchers, labels: Mapping[str, str]) -> bool:
    """matchFilterLabels: a `!=`/`!~` matcher with an empty value passes when the label exists, an
    `=`/`=~` matcher with an empty value passes when it does not; otherwise the matcher decides."""
    for m in matchers:
        present = m.name in labels
        if m.type in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX):
            if m.value == "" and present:
                continue
        elif m.value == "" and not present:
            continue
        if not m.matches(labels.get(m.name, "")):
            return False
    return True


def silence_matches_filter(silence: Silence, matchers: Matchers) -> bool:
    """CheckSilenceMatchesFilterLabels: every filter matcher equals (name, type, value) one of the
    silence's matchers."""
    own = {(m.name, _model_type(m), m.value) for m in silence.matchers}
    return all((m.name, m.type, m.value) in own for m in matchers)


def _model_type(m: MatcherModel) -> MatchType:
    if m.is_regex:
        return MatchType.REGEX if m.is_equal else MatchType.NOT_REGEX
    return MatchType.EQUAL if m.is_equal else MatchType.NOT_EQUAL


class AlertFilter:
    """api.alertFilter: hide alerts resolved at ``now``, recompute status, apply the flags and matchers."""

    def __init__(self, view: ApiView, query: Any, now: datetime) -> None:
        self.view, self.now = view, now
        self.matchers = parse_filter(query.getlist("filter"))
        self.active = bool_param(query, "active")
        self.silenced = bool_param(query, "silenced")
        self.inhibited = bool_param(query, "inhibited")
        self.unprocessed = bool_param(query, "unprocessed")

    def __call__(self, alert: Alert) -> AlertStatus | None:
        """The alert's status if it passes, else None (``view.alerts(now)`` already hid resolved ones)."""
        status = self.view.status(alert.labels, self.now)
        if not self.active and status.state == "active":
            return None
        if not self.unprocessed and status.state == "unprocessed":  # never, once recomputed (as 0.25)
            return None
        if not self.silenced and status.silenced_by:
            return None
        if not self.inhibited and status.inhibited_by:
            return None
        if not filter_matches(self.matchers, alert.labels):
            return None
        return status


def query_alerts(view: ApiView, query: Any, now: datetime) -> list[dict[str, Any]]:
    """GET /api/v2/alerts."""
    receiver = receiver_filter(query)
    alert_filter = AlertFilter(view, query, now)
    out = []
    with view.lock:
        for entry in view.alerts(now):
            receivers = entry.receivers
            if receiver is not None and not any(receiver.matches(r) for r in receivers):
                continue
            status = alert_filter(entry.alert)
            if status is None:
                continue
            out.append(alert_json(entry.alert, status, receivers))
    out.sort(key=lambda item: item["fingerprint"])
    return out


def query_groups(view: ApiView, query: Any, now: datetime) -> list[dict[str, Any]]:
    """GET /api/v2/alerts/groups: Dispatcher.Groups over the view's alerts (one aggregation group
    per matching route and group labels), receivers per alert sorted, groups sorted as Go sorts."""
    receiver = receiver_filter(query)
    alert_filter = AlertFilter(view, query, now)
    groups: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[TreeRoute, dict[str, str], list]] = {}
    receivers: dict[str, list[str]] = {}
    with view.lock:
        for entry in view.alerts(now):
            status: AlertStatus | None | bool = False  # computed on first need
            for route in entry.routes:
                if receiver is not None and not receiver.matches(route.receiver):
                    continue
                if status is False:
                    status = alert_filter(entry.alert)
                if status is None:
                    break
                labels = group_labels(route, entry.alert.labels)
                key = (id(route), tuple(sorted(labels.items())))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (route, labels, [])
                group[2].append((entry.alert, status))
                receivers.setdefault(entry.alert.fingerprint, []).append(route.receiver)
    for names in receivers.values():
        names.sort()
    ordered = sorted(groups.values(), key=functools.cmp_to_key(_group_cmp))
    out = []
    for route, labels, members in ordered:
        members.sort(key=functools.cmp_to_key(lambda a, b: _alert_cmp(a[0], b[0])))
        out.append({
            "alerts": [alert_json(alert, status, receivers[alert.fingerprint]) for alert, status in members],
            "labels": labels,
            "receiver": {"name": route.receiver},
        })
    return out


def _group_cmp(a: tuple, b: tuple) -> int:
    order = _labels_cmp(a[1], b[1])
    if order:
        return order
    return -1 if a[0].receiver < b[0].receiver else (1 if a[0].receiver > b[0].receiver else 0)


def query_silences(view: ApiView, query: Any, now: datetime) -> list[dict[str, Any]]:
    """GET /api/v2/silences."""
    matchers = parse_filter(query.getlist("filter"))
    items = [silence_json(s, now) for s in view.silences(now) if silence_matches_filter(s, matchers)]
    sort_silences(items)
    return items


# --- POST /silences body (what go-openapi validates before the handler) ------------------------

def _openapi_error(status: int, code: int, message: str) -> ApiError:
    return ApiError(status, {"code": code, "message": message})


def _go_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "bool", type(None): "null"}.get(
        type(value), "number")


def _parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise _openapi_error(422, 601, f"{field} in body must be of type date-time: {orjson.dumps(value).decode()}")
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise _openapi_error(422, 601, f"{field} in body must be of type date-time: \"{value}\"") from None


def parse_postable_silence(body: bytes) -> Silence:
    """A PostableSilence as go-openapi binds and validates it, as a :class:`Silence` (id may be "")."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _openapi_error(400, 400, f"parsing silence body from \"\" failed, because {exc}") from None
    if not isinstance(data, dict):
        raise _openapi_error(400, 400, f"parsing silence body from \"\" failed, because json: cannot "
                                       f"unmarshal {_go_type(data)} into Go value of type models.PostableSilence")
    for field in ("comment", "createdBy", "endsAt", "matchers", "startsAt"):
        if data.get(field) is None:
            raise _openapi_error(422, 602, f"{field} in body is required")
    for field in ("comment", "createdBy", "id"):
        if field in data and data[field] is not None and not isinstance(data[field], str):
            raise _openapi_error(422, 601, f"{field} in body must be of type string: \"{_go_type(data[field])}\"")
    matchers = data["matchers"]
    if not isinstance(matchers, list):
        raise _openapi_error(422, 601, f"matchers in body must be of type array: \"{_go_type(matchers)}\"")
    if not matchers:
        raise _openapi_error(422, 612, "matchers in body should have at least 1 items")
    parsed: list[MatcherModel] = []
    for i, m in enumerate(matchers):
        if not isinstance(m, dict):
            raise _openapi_error(422, 601, f"matchers.{i} in body must be of type object: \"{_go_type(m)}\"")
        for field, kind in (("isRegex", bool), ("name", str), ("value", str)):
            if m.get(field) is None:
                raise _openapi_error(422, 602, f"matchers.{i}.{field} in body is required")
            if not isinstance(m[field], kind):
                raise _openapi_error(422, 601, f"matchers.{i}.{field} in body must be of type "
                                               f"{'boolean' if kind is bool else 'string'}: \"{_go_type(m[field])}\"")
        is_equal = m.get("isEqual", True)
        if is_equal is None:
            is_equal = True
        if not isinstance(is_equal, bool):
            raise _openapi_error(422, 601, f"matchers.{i}.isEqual in body must be of type boolean: "
                                           f"\"{_go_type(is_equal)}\"")
        parsed.append(MatcherModel(name=m["name"], value=m["value"], is_regex=m["isRegex"], is_equal=is_equal))
    starts_at = _parse_time(data["startsAt"], "startsAt")
    ends_at = _parse_time(data["endsAt"], "endsAt")
    return Silence(id=data.get("id") or "", matchers=parsed, starts_at=starts_at, ends_at=ends_at,
                   updated_at=starts_at, created_by=data["createdBy"], comment=data["comment"])


# --- the endpoints ---------------------------------------------------------------------------------

class AlertmanagerApi:
    """The endpoints; ``writer`` is what the bridge writes with (pipeline.runtime.producer.DurableProducer:
    ``async send_all(records)``, acks=all).

    Reads cannot delay ingest, which shares the event loop: every access to the view (it is guarded
    by a thread lock the Kafka follower also takes) happens in a thread, never on the loop, and the
    answer is encoded there too, one item at a time so the GIL is handed back between items. At most
    ``get_concurrency`` reads are in progress (queued ones included) on ``read_threads`` threads; more
    get 503 at once, as Alertmanager's ``--web.get-concurrency`` answers. Silence writes look the view
    up on a thread of their own, so a long read delays them only by the lock, never by the read queue.
    """

    def __init__(self, view: ApiView, writer: Any, silences_topic: str, *, config_text: str = "",
                 write_timeout_s: float = 5.0, retry_after_s: int = 5,
                 on_start: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None,
                 not_ready_reason: Callable[[], str | None] = lambda: None,
                 get_concurrency: int = 8, read_threads: int = 2,
                 max_silences: int = 0, max_silence_size_bytes: int = 0) -> None:
        self.view = view
        self.writer = writer
        self.silences_topic = silences_topic
        self.config_text = config_text
        self.write_timeout_s = write_timeout_s
        self.retry_after_s = retry_after_s
        self.uptime = datetime.now(timezone.utc)
        self._on_start, self._on_stop = on_start, on_stop
        self._not_ready_reason = not_ready_reason
        self._silence_lock = asyncio.Lock()
        self.get_concurrency = get_concurrency
        self.max_silences = max_silences
        self.max_silence_size_bytes = max_silence_size_bytes
        self._reads_in_progress = 0
        self._read_pool = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="api-read")
        self._write_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-silence-write")
        # Issue #14 (pipeline.api.silence_preview): the silence guard, run on a POST after validation and
        # before the write (raises the ApiError of a refusal), and the preview route.
        self.silence_guard: Callable[[Silence, Request], Awaitable[None]] | None = None
        self.extra_routes: list[tuple[Route, Requirement]] = []  # with the role each needs

    # -- lifecycle
    def start(self) -> None:
        if self._on_start is not None:
            self._on_start()

    def stop(self) -> None:
        if self._on_stop is not None:
            self._on_stop()
        self._read_pool.shutdown(wait=False, cancel_futures=True)
        self._write_pool.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.view.ready.is_set()

    def not_ready_detail(self) -> str:
        reason = self._not_ready_reason()
        return "the Alertmanager API view is still reading the silences and alerts.enriched topics" + (
            f" ({reason})" if reason else "")

    def wrap_readyz(self, inner: Callable[[Request], Awaitable[Response]]):
        """/readyz: not ready until the view has caught up, then whatever ``inner`` says."""
        async def readyz(request: Request) -> Response:
            if not self.ready:
                return JSONResponse({"error": "unavailable", "detail": self.not_ready_detail()},
                                    status_code=503, headers={"Retry-After": str(self.retry_after_s)})
            return await inner(request)
        return readyz

    def routes(self) -> list[Route]:
        return [route for route, _ in self.protected_routes()]

    def protected_routes(self) -> list[tuple[Route, Requirement]]:
        """Every route with the role it needs (pipeline.web.access): reads need ``read``, silence
        writes ``silence``."""
        read, write = Requirement(Role.READ), Requirement(Role.SILENCE)
        return [
            (Route(f"{PREFIX}/status", self._handler(self.get_status), methods=["GET"]), read),
            (Route(f"{PREFIX}/receivers", self._handler(self.get_receivers), methods=["GET"]), read),
            (Route(f"{PREFIX}/alerts", self._handler(self.get_alerts), methods=["GET"]), read),
            (Route(f"{PREFIX}/alerts/groups", self._handler(self.get_alert_groups), methods=["GET"]), read),
            (Route(f"{PREFIX}/silences", self._handler(self.get_silences), methods=["GET"]), read),
            (Route(f"{PREFIX}/silences", self._handler(self.post_silences), methods=["POST"]), write),
            (Route(f"{PREFIX}/silence/{{silenceID}}", self._handler(self.get_silence), methods=["GET"]), read),
            (Route(f"{PREFIX}/silence/{{silenceID}}", self._handler(self.delete_silence), methods=["DELETE"]),
             write),
            *self.extra_routes,
        ]

    def _handler(self, method: Callable[[Request], Awaitable[Response]]):
        @functools.wraps(method)
        async def handle(request: Request) -> Response:
            if not self.ready:
                return _json(self.not_ready_detail(), 503, {"Retry-After": str(self.retry_after_s)})
            try:
                return await method(request)
            except ApiError as exc:
                return exc.response()
        return handle

    async def _read(self, compute: Callable[[], Any]) -> Response:
        """``compute()`` (which may take the view's lock) and its JSON encoding, on a read thread."""
        if self._reads_in_progress >= self.get_concurrency:
            raise ApiError(503, f"Limit of concurrent GET requests reached ({self.get_concurrency}), try "
                                "again later.", {"Retry-After": "1"})
        self._reads_in_progress += 1
        try:
            body = await asyncio.get_running_loop().run_in_executor(self._read_pool, _encoded, compute)
        finally:
            self._reads_in_progress -= 1
        return Response(body, media_type="application/json")

    async def _on_view(self, function: Callable[..., Any], *args: Any) -> Any:
        """A short look at the view for a write, off the event loop (the lock may be held by a read)."""
        return await asyncio.get_running_loop().run_in_executor(self._write_pool, function, *args)

    # -- reads
    async def get_status(self, _request: Request) -> Response:
        return _json({
            "cluster": {"peers": [], "status": "disabled"},
            "config": {"original": self.config_text},
            "uptime": go_time(self.uptime),
            "versionInfo": {
                "branch": "alert-pipeline",
                "buildDate": "",
                "buildUser": "alert-pipeline",
                "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
                "revision": f"alert-pipeline-{__version__}",
                "version": ALERTMANAGER_VERSION,
            },
        })

    async def get_receivers(self, _request: Request) -> Response:
        return _json([{"name": r.name} for r in self.view.config.receivers])

    async def get_alerts(self, request: Request) -> Response:
        query = request.query_params
        return await self._read(lambda: query_alerts(self.view, query, datetime.now(timezone.utc)))

    async def get_alert_groups(self, request: Request) -> Response:
        query = request.query_params
        return await self._read(lambda: query_groups(self.view, query, datetime.now(timezone.utc)))

    async def get_silences(self, request: Request) -> Response:
        query = request.query_params
        return await self._read(lambda: query_silences(self.view, query, datetime.now(timezone.utc)))

    async def get_silence(self, request: Request) -> Response:
        silence_id = _silence_id(request)

        def compute() -> dict[str, Any]:
            now = datetime.now(timezone.utc)
            silence = self.view.silence(silence_id, now)
            if silence is None:
                raise ApiError(404)
            return silence_json(silence, now)

        return await self._read(compute)

    # -- writes
    async def post_silences(self, request: Request) -> Response:
        posted = parse_postable_silence(await request.body())
        async with self._silence_lock:  # Alertmanager's silences mutex, within this process
            now = datetime.now(timezone.utc)
            existing = await self._on_view(self.view.silence, posted.id, now) if posted.id else None
            try:
                writes = apply_post(existing, posted, now, lambda: str(uuid.uuid4()))
            except SilenceNotFound as exc:
                raise ApiError(404, str(exc)) from None
            except SilenceError as exc:
                if exc.writes:  # Alertmanager had expired the predecessor before validating
                    await self._write(exc.writes)
                raise ApiError(400, str(exc)) from None
            await self._check_limits(existing, writes, now)
            if self.silence_guard is not None:
                await self.silence_guard(writes[-1], request)
            await self._write(writes)
        return _json({"silenceID": writes[-1].id})

    async def _check_limits(self, existing: Silence | None, writes: list[Silence], now: datetime) -> None:
        """Alertmanager's silence limits (silence.go Set, 0.28): a new silence (also the one replacing
        a silence that cannot be updated in place) needs room under ``max_silences``, counted over every
        silence kept (expired ones in retention too); the posted silence must fit
        ``max_silence_size_bytes``, here its record as stored on the silences topic."""
        posted = writes[-1]
        if self.max_silence_size_bytes:
            size = len(wire.encode(posted))
            if size > self.max_silence_size_bytes:
                raise ApiError(400, f"silence exceeded maximum size: {size} bytes (limit: "
                                    f"{self.max_silence_size_bytes} bytes)")
        if self.max_silences and not (existing is not None and posted.id == existing.id):
            count = await self._on_view(lambda: len(self.view.silences(now)))
            if count + 1 > self.max_silences:
                raise ApiError(400, f"exceeded maximum number of silences: {count} (limit: {self.max_silences})")

    async def delete_silence(self, request: Request) -> Response:
        silence_id = _silence_id(request)
        async with self._silence_lock:
            now = datetime.now(timezone.utc)
            silence = await self._on_view(self.view.silence, silence_id, now)
            if silence is None:
                raise ApiError(404)
            expired = expire(silence, now)
            if expired is not None:
                await self._write([expired])
        return Response(status_code=200)

    async def _write(self, silences: list[Silence]) -> None:
        """Durably write the records, then wait (bounded) until the view has read them back."""
        records = [OutgoingRecord(self.silences_topic, s.id.encode(), wire.encode(s)) for s in silences]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.write_timeout_s
        try:
            await self.writer.send_all(records)
        except ProduceError as exc:
            log.warning("silence write not acknowledged: %s", exc)
            raise ApiError(503, f"the silence was not stored: {exc}; retry the request",
                           {"Retry-After": str(self.retry_after_s)}) from None
        while not await self._on_view(lambda: all(self.view.holds(s) for s in silences)):
            if loop.time() >= deadline:
                raise ApiError(503, "the silence was stored, but this API has not read it back yet; "
                                    "query again shortly", {"Retry-After": str(self.retry_after_s)})
            await asyncio.sleep(0.005)


def _encoded(compute: Callable[[], Any]) -> bytes:
    """The JSON of ``compute()``; a list is encoded item by item, so a long answer never holds the GIL
    in one call (orjson does not release it) and the event loop's thread gets its turns."""
    with _CYCLIC_GC_PAUSED:
        data = compute()
        if isinstance(data, list):
            return b"[" + b",".join([orjson.dumps(item) for item in data]) + b"]"
        return orjson.dumps(data)


class _CyclicGcPause:
    """Python's cyclic collector off while any read computes its answer.

    A read of many alerts builds hundreds of thousands of short-lived dicts and lists; the collector,
    counting them, runs full collections of the whole heap (measured: 350-560 ms each with 20,000 alerts
    in the view) in the read's thread while it holds the GIL, which stalls the event loop and with it
    ingest. The read's objects hold no cycles, so reference counting frees them all anyway; with the
    collector paused they are never promoted into the old generations either. Collection resumes when
    the last read ends. Process-wide (gc is), counted across concurrent reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._paused_here = False

    def __enter__(self) -> None:
        with self._lock:
            if self._readers == 0 and gc.isenabled():
                gc.disable()
                self._paused_here = True
            self._readers += 1

    def __exit__(self, *_exc: Any) -> None:
        with self._lock:
            self._readers -= 1
            if self._readers == 0 and self._paused_here:
                self._paused_here = False
                gc.enable()


_CYCLIC_GC_PAUSED = _CyclicGcPause()


def _silence_id(request: Request) -> str:
    silence_id = request.path_params["silenceID"]
    if not _UUID.match(silence_id):
        raise _openapi_error(422, 601, f"silenceID in path must be of type uuid: \"{silence_id}\"")
    return silence_id


# --- wiring ------------------------------------------------------------------------------------------

def create_api(settings: Any, writer: Any, config: AlertmanagerConfig | None = None,
               write_timeout_s: float | None = None) -> AlertmanagerApi:
    """The API with its view and the Kafka follower feeding it, for the bridge process."""
    from pipeline.alertmanager_config import load_alertmanager_config
    from pipeline.api.view import ALERTS_TOPIC, SILENCES_TOPIC
    from pipeline.runtime.follower import TopicFollower

    path = Path(settings.alertmanager_config)
    text = path.read_text(encoding="utf-8")
    config = config or load_alertmanager_config(path)
    view = ApiView(config)

    def caught_up() -> None:
        log.info("API view caught up: %d silences, %d active alerts", len(view.silencer), len(view))
        view.ready.set()

    follower = TopicFollower(settings, [SILENCES_TOPIC, ALERTS_TOPIC], "api-view", apply=view.apply_raw,
                             on_caught_up=caught_up)
    timeout = write_timeout_s if write_timeout_s is not None else settings.bridge.ack_timeout_s
    api = AlertmanagerApi(
        view, writer, settings.topic("silences"), config_text=status_yaml(config, text, path.parent),
        write_timeout_s=timeout, retry_after_s=settings.bridge.retry_after_s,
        on_start=follower.start, on_stop=follower.stop, not_ready_reason=lambda: follower.error,
        get_concurrency=settings.web.get_concurrency, read_threads=settings.web.read_threads,
        max_silences=settings.web.max_silences, max_silence_size_bytes=settings.web.max_silence_size_bytes,
    )
    from pipeline.api.silence_preview import install_silence_preview

    install_silence_preview(api, settings)
    return api


__all__ = [
    "AlertmanagerApi", "ApiError", "alert_json", "create_api", "go_time", "parse_postable_silence",
    "query_alerts", "query_groups", "query_silences", "silence_json",
]
