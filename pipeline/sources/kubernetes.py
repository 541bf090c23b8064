"""The Kubernetes source: watches pods, nodes and Warning events through the API server
(kubernetes_asyncio: in-cluster service account or a kubeconfig) and turns the states of
pipeline.sources.kube_conditions into alerts with namespace/pod/node/cluster labels.

Each resource is listed (paginated, 500 a page), then watched from the list's resourceVersion with
bookmarks. A watch the server closes after ``watch_timeout`` is resumed from the last version seen;
a watch that expired — 410 Gone, as an HTTP status or as an ERROR event carrying a Status with code
410 — is a resync: the resource is listed again and compared with what the source remembered, so an
object deleted while no watch ran has its alerts resolved.

A condition that clears (an update, or the object's deletion) is sent resolved at once. Every
``resync`` the source re-sends each condition it holds with ``endsAt = now + 4 × resync``, as a poll
source refreshes its alerts: alerts whose condition cleared while the source was down resolve on
their own, and the same timer turns pods pending past ``pending_after`` (and nodes NotReady past
``node_not_ready_after``) into alerts without waiting for an update of the object. Point-in-time
conditions (an OOM kill, a warning event) carry their own end instead.

Only objects that hold a condition, or wait for one to come due, are remembered, at most
``limits.max_alerts`` of them; raw objects are read line by line from the watch, each at most
``limits.max_body_bytes``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
import orjson
from prometheus_client import Counter

from pipeline.ingest.formats.batch import BatchBuilder
from pipeline.models import RawAlert
from pipeline.runtime.raw_writer import RawWriter
from pipeline.sources.base import SourceBase, SourceContext, wait_or_stop
from pipeline.sources.kube_conditions import (
    Condition,
    event_condition,
    iter_items,
    node_conditions,
    object_id,
    pod_conditions,
)
from pipeline.sources.model import KubernetesConfig, Source

log = logging.getLogger(__name__)

SOURCE_FORMAT = "kubernetes"
PAGE_SIZE = 500
REFRESH_INTERVALS = 4  # endsAt = now + 4 × resync, the poll sources' multiple (pipeline.sources.poll)
RESYNCS = Counter("pipeline_source_kubernetes_lists_total",
                  "Full lists of a watched resource, by why: start, expired (410 Gone), error.",
                  ["source", "resource", "reason"])


class WatchExpired(Exception):
    """The API server no longer has the requested resourceVersion (410 Gone): list again."""


class ApiError(Exception):
    """The API server answered something other than what was asked for; the message says what."""


@dataclass
class Resource:
    kind: str                      # pod, node, event
    namespace: str | None          # None: cluster-wide (every namespace)
    listed: bool = False
    error: str | None = None
    version: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}s" + (f" in {self.namespace}" if self.namespace else "")


@dataclass
class Tracked:
    """One object the source remembers: the conditions it holds, and the object while one is coming due."""

    kind: str
    namespace: str | None
    conditions: dict[tuple, Condition] = field(default_factory=dict)
    due: datetime | None = None
    waiting: Mapping[str, Any] | None = None


class KubernetesSource(SourceBase):
    def __init__(self, source: Source, writer: RawWriter, context: SourceContext):
        super().__init__(source, writer, context)
        assert source.kubernetes is not None
        self.config: KubernetesConfig = source.kubernetes
        self.breaker = self.new_breaker()
        namespaces = self.config.namespaces or (None,)
        self.resources = [Resource("node", None), *(Resource("pod", ns) for ns in namespaces)]
        if self.config.warning_events.enabled:
            self.resources += [Resource("event", ns) for ns in namespaces]
        self.tracked: dict[str, Tracked] = {}
        self._emit_lock = asyncio.Lock()  # one write at a time: a resolve never overtakes its firing record
        self._stop = asyncio.Event()  # the runner's, once run() starts

    # -- the API client ---------------------------------------------------------------------------------
    async def open_api(self):
        from kubernetes_asyncio import client, config

        configuration = client.Configuration()
        auth = self.config.auth
        if auth.type == "in_cluster":
            config.load_incluster_config(client_configuration=configuration)
        else:
            await config.load_kube_config(config_file=str(auth.path) if auth.path else None, context=auth.context,
                                          client_configuration=configuration, persist_config=False)
        api_client = client.ApiClient(configuration=configuration)
        return api_client, client.CoreV1Api(api_client)

    def _call(self, core, resource: Resource, **options):
        options["_preload_content"] = False
        if resource.kind == "event":
            options["field_selector"] = "type=Warning"
        if resource.kind == "node":
            return core.list_node(**options)
        if resource.kind == "pod":
            return (core.list_namespaced_pod(resource.namespace, **options) if resource.namespace
                    else core.list_pod_for_all_namespaces(**options))
        return (core.list_namespaced_event(resource.namespace, **options) if resource.namespace
                else core.list_event_for_all_namespaces(**options))

    async def _read_body(self, response) -> bytes:
        limit = self.source.limits.max_body_bytes
        chunks, size = [], 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise ApiError(f"answer exceeds limits.max_body_bytes ({limit} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _check(self, response) -> None:
        if response.status == 200:
            return
        body = await self._read_body(response)
        if response.status == 410:
            raise WatchExpired(_status_message(body))
        raise ApiError(f"HTTP {response.status}: {_status_message(body)}")

    async def list_all(self, core, resource: Resource) -> tuple[list[Mapping[str, Any]], str | None]:
        """Every object of a resource (paginated) and the list's resourceVersion."""
        items: list[Mapping[str, Any]] = []
        version: str | None = None
        token: str | None = None
        while True:
            options: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": 60}
            if token:
                options["_continue"] = token
            response = await self._call(core, resource, **options)
            try:
                await self._check(response)
                document = _json(await self._read_body(response))
            finally:
                response.release()
            metadata = document.get("metadata") if isinstance(document.get("metadata"), Mapping) else {}
            version = version or metadata.get("resourceVersion")
            items.extend(iter_items(document))
            token = metadata.get("continue") or None
            if not token:
                return items, version

    async def watch(self, core, resource: Resource, version: str | None) -> str | None:
        """Apply a watch's events until the server ends it; the last resourceVersion seen.
        WatchExpired when the version is gone (410)."""
        timeout_s = int(self.config.watch_timeout.total_seconds())
        response = await self._call(
            core, resource, watch=True, resource_version=version, timeout_seconds=timeout_s,
            allow_watch_bookmarks=True,
            _request_timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_s + 60))
        try:
            await self._check(response)
            limit = self.source.limits.max_body_bytes
            pending = b""
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > limit:
                    raise ApiError(f"a watch event exceeds limits.max_body_bytes ({limit} bytes)")
                for line in lines:
                    if line.strip():
                        version = await self._event(resource, _json(line)) or version
                        resource.version = version
            if pending.strip():  # the last event, when the stream ends without a newline
                version = await self._event(resource, _json(pending)) or version
                resource.version = version
            return version
        finally:
            response.release()

    async def _event(self, resource: Resource, event: Mapping[str, Any]) -> str | None:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, Mapping):
            raise ApiError(f"watch event without an object: type {kind!r}")
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise WatchExpired(_text_of(obj))
            raise ApiError(f"watch error: {_text_of(obj)}")
        version = obj.get("metadata", {}).get("resourceVersion") if isinstance(obj.get("metadata"), Mapping) else None
        if kind == "BOOKMARK":
            return version
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise ApiError(f"unknown watch event type {kind!r}")
        await self.observe(resource, obj, deleted=kind == "DELETED")
        return version

    # -- conditions -------------------------------------------------------------------------------------
    def _evaluate(self, kind: str, obj: Mapping[str, Any], now: datetime,
                  known: Tracked | None) -> tuple[dict[tuple, Condition], datetime | None]:
        if kind == "pod":
            first_seen = {key: c.starts_at for key, c in known.conditions.items()} if known else None
            return pod_conditions(obj, now, self.config, first_seen)
        return node_conditions(obj, now, self.config)

    async def observe(self, resource: Resource, obj: Mapping[str, Any], deleted: bool = False) -> None:
        """An object as listed or watched: emit what fires, changed or cleared."""
        now = datetime.now(timezone.utc)
        if resource.kind == "event":
            if not deleted and (condition := event_condition(obj, now, self.config)) is not None:
                await self.emit(firing=[condition], resolved=[], now=now)
            return
        uid = object_id(obj)
        if uid is None:
            return
        key = f"{resource.kind}/{uid}"
        known = self.tracked.get(key)
        if deleted:
            conditions, due = {}, None
        else:
            conditions, due = self._evaluate(resource.kind, obj, now, known)
        before = known.conditions if known else {}
        firing = [c for k, c in conditions.items() if before.get(k) != c]
        resolved = [c for k, c in before.items() if k not in conditions and _still_open(c, now)]
        if conditions or due is not None:
            if known is None and len(self.tracked) >= self.source.limits.max_alerts:
                self.metrics.rejected("too_large", len(conditions) or 1)
                log.warning("source %s: already tracking %d objects (limits.max_alerts); %s not tracked",
                            self.name, len(self.tracked), key)
                return
            self.tracked[key] = Tracked(resource.kind, resource.namespace, conditions, due,
                                        obj if due is not None else None)
        else:
            self.tracked.pop(key, None)
        if firing or resolved:
            await self.emit(firing=firing, resolved=resolved, now=now)

    async def relisted(self, resource: Resource, items: list[Mapping[str, Any]]) -> None:
        """A full list: objects gone since the last one (deleted while no watch ran) resolve."""
        seen = set()
        for obj in items:
            uid = object_id(obj)
            if uid is not None:
                seen.add(f"{resource.kind}/{uid}")
            await self.observe(resource, obj)
        if resource.kind == "event":
            return
        gone = [key for key, t in self.tracked.items()
                if t.kind == resource.kind and t.namespace == resource.namespace and key not in seen]
        now = datetime.now(timezone.utc)
        resolved = [c for key in gone for c in self.tracked.pop(key).conditions.values() if _still_open(c, now)]
        if resolved:
            await self.emit(firing=[], resolved=resolved, now=now)

    async def refresh(self) -> None:
        """The resync timer: conditions come due, ended ones are forgotten, open ones re-sent."""
        now = datetime.now(timezone.utc)
        for key, tracked in list(self.tracked.items()):
            if tracked.due is not None and tracked.due <= now and tracked.waiting is not None:
                resource = Resource(tracked.kind, tracked.namespace)
                await self.observe(resource, tracked.waiting)
        refreshed = []
        for key, tracked in list(self.tracked.items()):
            for condition_key, condition in list(tracked.conditions.items()):
                if condition.ends_at is not None and condition.ends_at <= now:
                    del tracked.conditions[condition_key]
                elif condition.ends_at is None:
                    refreshed.append(condition)
            if not tracked.conditions and tracked.due is None:
                del self.tracked[key]
        if refreshed:
            await self.emit(firing=refreshed, resolved=[], now=now)

    async def emit(self, firing: list[Condition], resolved: list[Condition], now: datetime) -> None:
        valid_until = now + REFRESH_INTERVALS * self.config.resync
        refreshed = BatchBuilder(self.resolve_timeout, self.stamp(valid_until))
        as_given = BatchBuilder(self.resolve_timeout, self.stamp())
        for index, condition in enumerate(firing):
            builder = as_given if condition.ends_at is not None else refreshed
            builder.add(index, self._raw(condition, now, condition.ends_at, None))
        for index, condition in enumerate(resolved, start=len(firing)):
            as_given.add(index, self._raw(condition, now, now, "resolved"))
        keys: list[bytes | None] = []
        values: list[bytes] = []
        for builder in (refreshed, as_given):
            batch_keys, batch_values, problems = self.encode(builder.batch)
            for problem in problems:
                log.warning("source %s: alert refused: %s", self.name, problem.reason)
            keys += batch_keys
            values += batch_values
        async with self._emit_lock:
            await self.store_until_done(keys, values, None, self._stop)

    def _raw(self, condition: Condition, now: datetime, ends_at: datetime | None, status: str | None) -> RawAlert:
        return RawAlert(labels=condition.labels, annotations=condition.annotations, starts_at=condition.starts_at,
                        ends_at=ends_at, status=status, source=self.name, source_format=SOURCE_FORMAT, received_at=now)

    # -- running ----------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                api_client, core = await self.open_api()
            except Exception as exc:  # noqa: BLE001 - a bad kubeconfig or no service account: say so, retry
                self.breaker.record_failure(time.monotonic())
                self.set_health("failing", f"cannot configure the Kubernetes client: {type(exc).__name__}: {exc}")
                await wait_or_stop(stop, self.source.breaker.cooldown.total_seconds())
                continue
            tasks = [asyncio.ensure_future(self._watch_loop(core, resource, stop)) for resource in self.resources]
            tasks.append(asyncio.ensure_future(self._refresh_loop(stop)))
            try:
                await stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await api_client.close()
        self.set_health("stopped", "stopped")

    async def _refresh_loop(self, stop: asyncio.Event) -> None:
        interval = self.config.resync.total_seconds()
        while not await wait_or_stop(stop, interval):
            await self.refresh()

    async def _watch_loop(self, core, resource: Resource, stop: asyncio.Event) -> None:
        reason = "start"
        delay = 1.0
        while not stop.is_set():
            if not self.breaker.allow(time.monotonic()):
                self.upstream_call("apiserver", "skipped")
                await wait_or_stop(stop, 1.0)
                continue
            try:
                if not await self.take_token(stop):
                    return
                RESYNCS.labels(self.name, resource.kind, reason).inc()
                items, version = await self.list_all(core, resource)
                self.breaker.record_success()
                self.upstream_call("apiserver", "ok")
                await self.relisted(resource, items)
                resource.listed, resource.error, resource.version = True, None, version
                self._summarize()
                delay = 1.0
                while not stop.is_set():
                    if not await self.take_token(stop):
                        return
                    version = await self.watch(core, resource, version)
                    self.metrics.succeeded()
            except WatchExpired as exc:
                log.info("source %s: watch of %s expired (%s): listing again", self.name, resource.label, exc)
                reason = "expired"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the API server: breaker, retry
                self.breaker.record_failure(time.monotonic())
                self.upstream_call("apiserver", "error")
                resource.error = f"{type(exc).__name__}: {exc}"[:500]
                self._summarize()
                reason = "error"
                await wait_or_stop(stop, delay)
                delay = min(delay * 2, 30.0)
            finally:
                self.breaker_metric("apiserver", self.breaker)

    def _summarize(self) -> None:
        failing = [r for r in self.resources if r.error]
        if failing:
            self.set_health("failing", "; ".join(f"{r.label}: {r.error}" for r in failing))
        elif all(r.listed for r in self.resources):
            self.set_health("ok", f"watching {', '.join(r.label for r in self.resources)}; "
                                  f"{sum(len(t.conditions) for t in self.tracked.values())} conditions held")

    # -- check --connect and status -----------------------------------------------------------------------
    async def probe(self) -> str:
        api_client, core = await self.open_api()
        try:
            counts = []
            for resource in (Resource("node", None), Resource("pod", (self.config.namespaces or (None,))[0])):
                response = await self._call(core, resource, limit=1, _request_timeout=15)
                try:
                    await self._check(response)
                    document = _json(await self._read_body(response))
                finally:
                    response.release()
                more = "+" if (document.get("metadata") or {}).get("continue") else ""
                counts.append(f"{resource.label}: {len(list(iter_items(document)))}{more}")
            return f"API server {api_client.configuration.host} answers ({'; '.join(counts)} on the first page)"
        finally:
            await api_client.close()

    def extra_status(self) -> dict[str, Any]:
        return {"watches": [{"resource": r.label, "listed": r.listed, "error": r.error, "resource_version": r.version}
                            for r in self.resources],
                "tracked_objects": len(self.tracked),
                "conditions": sum(len(t.conditions) for t in self.tracked.values()),
                "breaker": self.breaker.state(time.monotonic()).name.lower()}


def _still_open(condition: Condition, now: datetime) -> bool:
    """Whether a cleared condition needs a resolve (one with its own end that passed resolved by itself)."""
    return condition.ends_at is None or condition.ends_at > now


def _json(data: bytes) -> Mapping[str, Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"answer is not JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise ApiError("answer is not a JSON object")
    return document


def _text_of(status: Mapping[str, Any]) -> str:
    return f"{status.get('reason') or 'Unknown'}: {str(status.get('message') or '')[:300]}"


def _status_message(body: bytes) -> str:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace")
    return _text_of(document) if isinstance(document, Mapping) else body[:200].decode("utf-8", "replace")
