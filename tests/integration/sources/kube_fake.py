"""An HTTP fake of the Kubernetes API server, for the Kubernetes source's tests (no cluster runs here).

It serves what the source asks for, in the API's own shapes: list answers (PodList, NodeList,
EventList with metadata.resourceVersion and continue tokens), watch streams (one JSON event per line:
ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) and 410 Gone (an ERROR event whose object is a Status with
code 410, reason Expired, as the API server sends when a watch's resourceVersion was compacted away).
The objects are HAND-MADE from the Kubernetes API reference (core/v1 Pod, PodStatus, ContainerStatus,
ContainerState*, Node, NodeCondition, Event, meta/v1 Status, ListMeta, WatchEvent), not recorded from
a live cluster; only the fields the source reads, plus the identity every object has, are filled.

The test changes the cluster with ``put``/``delete`` (each change goes to the open watches with a new
resourceVersion) and ``expire`` (compaction: open watches get the 410 ERROR event and any watch from
an older version is refused with it). A bearer token is required, as a real API server does.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from aiohttp import web

from pipeline.devenv.process import free_port

RESOURCES = {"pods": "PodList", "nodes": "NodeList", "events": "EventList"}
GO_TRUE = ("1", "t", "T", "true", "TRUE", "True")  # what the API server's strconv.ParseBool takes as true


def rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    return rfc3339(datetime.now(timezone.utc) - timedelta(**delta))


def _meta(name: str, namespace: str | None, uid: str, created: str) -> dict[str, Any]:
    meta = {"name": name, "uid": uid, "creationTimestamp": created}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def container_status(name: str, *, waiting: tuple[str, str] | None = None, running: bool = False,
                     last_terminated: dict[str, Any] | None = None, restarts: int = 0,
                     image: str = "registry.example/app:1.0") -> dict[str, Any]:
    """A ContainerStatus: exactly one of state.waiting / state.running is set, lastState.terminated optional."""
    state: dict[str, Any]
    if waiting is not None:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    elif running:
        state = {"running": {"startedAt": ago(seconds=30)}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    status = {"name": name, "image": image, "imageID": "", "ready": running, "started": running,
              "restartCount": restarts, "state": state, "lastState": {}}
    if last_terminated is not None:
        status["lastState"] = {"terminated": last_terminated}
    return status


def pod(name: str, namespace: str, *, uid: str, phase: str = "Running", node: str | None = "node-1",
        containers: list[dict[str, Any]] | None = None, created: str | None = None,
        scheduled: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """A core/v1 Pod. ``scheduled``: the PodScheduled condition's (status, reason, message)."""
    conditions = []
    if scheduled is not None:
        conditions.append({"type": "PodScheduled", "status": scheduled[0], "reason": scheduled[1],
                           "message": scheduled[2], "lastTransitionTime": created or ago(minutes=1)})
    spec: dict[str, Any] = {"containers": [{"name": c["name"], "image": c["image"]} for c in containers or []]}
    if node:
        spec["nodeName"] = node
    return {"kind": "Pod", "apiVersion": "v1", "metadata": _meta(name, namespace, uid, created or ago(hours=1)),
            "spec": spec,
            "status": {"phase": phase, "conditions": conditions, "containerStatuses": containers or [],
                       "qosClass": "BestEffort"}}


def node(name: str, *, uid: str, ready: str = "True", since: str | None = None, reason: str = "KubeletReady",
         message: str = "kubelet is posting ready status") -> dict[str, Any]:
    """A core/v1 Node with its Ready condition (status True, False or Unknown)."""
    return {"kind": "Node", "apiVersion": "v1", "metadata": _meta(name, None, uid, ago(days=3)),
            "spec": {}, "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "lastHeartbeatTime": ago(seconds=10), "lastTransitionTime": ago(days=3)},
                {"type": "Ready", "status": ready, "reason": reason, "message": message,
                 "lastHeartbeatTime": ago(seconds=10), "lastTransitionTime": since or ago(days=3)}]}}


def event(name: str, namespace: str, *, uid: str, reason: str, message: str, kind: str = "Pod",
          object_name: str = "", type_: str = "Warning", count: int = 1, first: str | None = None,
          last: str | None = None) -> dict[str, Any]:
    """A core/v1 Event about ``kind``/``object_name``."""
    first = first or ago(minutes=2)
    return {"kind": "Event", "apiVersion": "v1", "metadata": _meta(name, namespace, uid, first),
            "involvedObject": {"kind": kind, "namespace": namespace, "name": object_name, "apiVersion": "v1"},
            "reason": reason, "message": message, "type": type_, "count": count,
            "firstTimestamp": first, "lastTimestamp": last or first,
            "source": {"component": "kubelet", "host": "node-1"}, "reportingComponent": "kubelet"}


def status_gone(version: int, current: int) -> dict[str, Any]:
    """The meta/v1 Status of an expired watch."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"too old resource version: {version} ({current})", "reason": "Expired", "code": 410}


class FakeApiServer:
    def __init__(self, token: str):
        self.token = token
        self.version = 100
        self.compacted = 0  # watches from a version at or below this get 410
        self.objects: dict[str, dict[str, dict[str, Any]]] = {resource: {} for resource in RESOURCES}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # (version, resource, type, object)
        self.watchers: list[tuple[str, str | None, asyncio.Queue]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, query) of every request
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- changing the cluster (called from the test's thread) --------------------------------------------
    def put(self, resource: str, obj: dict[str, Any]) -> None:
        self._call(self._change, resource, obj, False)

    def delete(self, resource: str, obj: dict[str, Any], *, silently: bool = False) -> None:
        """Remove an object; ``silently``: no watch sees it (as when it happens while no watch runs)."""
        self._call(self._change, resource, obj, True, silently)

    def expire(self) -> None:
        """Compaction: every open watch gets 410 Gone, and so does any later watch from an older version."""
        self._call(self._expire)

    def lists(self, resource: str) -> int:
        return sum(1 for path, query in self.requests if path.endswith(f"/{resource}") and "watch" not in query)

    def _call(self, function, *args) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(function(*args), self._loop).result(timeout=10)

    async def _change(self, resource: str, obj: dict[str, Any], deleted: bool, silently: bool = False) -> None:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        key = self._key(obj)
        kind = "DELETED" if deleted else ("MODIFIED" if key in self.objects[resource] else "ADDED")
        if deleted:
            self.objects[resource].pop(key, None)
        else:
            self.objects[resource][key] = obj
        if silently:
            self.compacted = self.version  # the change is only visible to a new list
            return
        self.history.append((self.version, resource, kind, obj))
        for watched, namespace, queue in self.watchers:
            if watched == resource and self._in(obj, namespace):
                queue.put_nowait({"type": kind, "object": obj})

    async def _expire(self) -> None:
        self.compacted = self.version
        for _resource, _namespace, queue in self.watchers:
            queue.put_nowait({"type": "ERROR", "object": status_gone(self.version - 1, self.version)})
            queue.put_nowait(None)

    @staticmethod
    def _key(obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f"{meta.get('namespace', '')}/{meta['name']}"

    @staticmethod
    def _in(obj: dict[str, Any], namespace: str | None) -> bool:
        return namespace is None or obj["metadata"].get("namespace") == namespace

    # -- the API -------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, status=401)
        resource = request.match_info["resource"]
        namespace = request.match_info.get("namespace")
        if request.query.get("watch") in GO_TRUE:
            return await self._watch(request, resource, namespace)
        return self._list(request, resource, namespace)

    def _list(self, request: web.Request, resource: str, namespace: str | None) -> web.Response:
        items = [obj for obj in self.objects[resource].values() if self._in(obj, namespace)
                 and self._selected(obj, request.query.get("fieldSelector"))]
        limit = int(request.query.get("limit", "0") or 0)
        start = int(request.query.get("continue", "0") or 0)
        page = items[start:start + limit] if limit else items[start:]
        metadata: dict[str, Any] = {"resourceVersion": str(self.version)}
        if limit and start + limit < len(items):
            metadata["continue"] = str(start + limit)
        return web.json_response({"kind": RESOURCES[resource], "apiVersion": "v1", "metadata": metadata,
                                  "items": page}, dumps=lambda value: orjson.dumps(value).decode())

    @staticmethod
    def _selected(obj: dict[str, Any], selector: str | None) -> bool:
        if not selector:
            return True
        field, _, wanted = selector.partition("=")
        return str(obj.get(field)) == wanted

    async def _watch(self, request: web.Request, resource: str, namespace: str | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        since = int(request.query.get("resourceVersion") or 0)
        selector = request.query.get("fieldSelector")
        if since and since < self.compacted:
            await response.write(orjson.dumps({"type": "ERROR", "object": status_gone(since, self.version)}) + b"\n")
            return response
        queue: asyncio.Queue = asyncio.Queue()
        for version, watched, kind, obj in self.history:
            if version > since and watched == resource and self._in(obj, namespace):
                queue.put_nowait({"type": kind, "object": obj})
        entry = (resource, namespace, queue)
        self.watchers.append(entry)
        timeout = float(request.query.get("timeoutSeconds", "300"))
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if item is None:
                    break
                if item["type"] != "ERROR" and not self._selected(item["object"], selector):
                    continue
                await response.write(orjson.dumps(item) + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(entry)
        return response

    # -- serving ---------------------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[FakeApiServer]:
        started = threading.Event()
        stopping: dict[str, Any] = {}

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            for path in ("/api/v1/{resource}", "/api/v1/namespaces/{namespace}/{resource}"):
                app.router.add_get(path, self.handle)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            stopping["event"] = asyncio.Event()
            started.set()
            loop.run_until_complete(stopping["event"].wait())
            for _resource, _namespace, queue in list(self.watchers):
                queue.put_nowait(None)
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(stopping["event"].set)
            thread.join(10)

    def kubeconfig(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "source", "user": {"token": self.token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "source"}}]}
