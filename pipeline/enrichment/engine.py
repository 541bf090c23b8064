"""Running enrichment workflows over a classified alert.

Workflows run in file order, every one whose trigger matches; their actions run in order, so a later
action sees the annotations an earlier one added. Each action is isolated: its own timeout, and any
failure (a missing label in a template, an HTTP error, a script that crashes or hangs) becomes one
``enrichment_errors`` note, ``<workflow>/<index> <type>: <what>``; the alert goes on with whatever
the other actions added. Existing annotations are kept unless an action says ``overwrite: true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from pipeline.enrichment.templates import RenderError, template_context
from pipeline.enrichment.workflows import (
    AnnotationsAction,
    HttpAction,
    LinkAction,
    ScriptAction,
    Workflow,
)
from pipeline import wire
from pipeline.models import EnrichedAlert, Link, replace

log = logging.getLogger(__name__)

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
MAX_OUTPUT_BYTES = 64 * 1024
MAX_ANNOTATION_CHARS = 4096


class ActionFailed(Exception):
    """An action could not do its work; the message becomes the enrichment error."""


@dataclass
class Enrichment:
    """What the workflows added, accumulating as actions run."""

    annotations: dict[str, str]
    links: list[Link] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def annotate(self, name: str, value: str, overwrite: bool) -> None:
        if overwrite or not self.annotations.get(name):
            self.annotations[name] = value[:MAX_ANNOTATION_CHARS]


@dataclass
class _TtlCache:
    clock: Callable[[], float]
    max_entries: int = 10000
    entries: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def get(self, key: str) -> dict[str, Any] | None:
        hit = self.entries.get(key)
        if hit is None or hit[0] <= self.clock():
            return None
        return hit[1]

    def put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        if len(self.entries) >= self.max_entries:
            now = self.clock()
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if len(self.entries) >= self.max_entries:
                self.entries.pop(next(iter(self.entries)))
        self.entries[key] = (self.clock() + ttl_s, value)


def _failed(where: str, exc: Exception, result: Enrichment) -> None:
    if isinstance(exc, (ActionFailed, RenderError)):
        result.errors.append(f"{where}: {exc}")
        return
    log.error("enrichment action %s failed unexpectedly", where, exc_info=exc)
    result.errors.append(f"{where}: unexpected {type(exc).__name__}: {exc}")


def _with(alert: EnrichedAlert, result: Enrichment) -> EnrichedAlert:
    return replace(alert, alert=replace(alert.alert, annotations=result.annotations), links=result.links,
                   enrichment_errors=result.errors)


class Enricher:
    def __init__(self, workflows: tuple[Workflow, ...], *, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.workflows = workflows
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._lookups = _TtlCache(clock)

    @property
    def awaits(self) -> bool:
        """Whether some action calls out (HTTP lookups, scripts); without, ``enrich_now`` does it all."""
        return any(isinstance(a, (HttpAction, ScriptAction)) for w in self.workflows for a in w.actions)

    def enrich_now(self, alert: EnrichedAlert) -> EnrichedAlert:
        """``enrich`` for workflows of annotation and link actions only (no I/O: nothing to await)."""
        return self._enriched(alert, self._local)

    def triggered(self, alert: EnrichedAlert) -> list[Workflow]:
        priority = alert.classification.priority if alert.classification else None
        return [w for w in self.workflows if w.trigger.matches(alert.alert.labels, priority)]

    async def enrich(self, alert: EnrichedAlert) -> EnrichedAlert:
        """The alert with the annotations, links and errors of every triggered workflow."""
        workflows = self.triggered(alert)
        if not workflows:
            return alert
        result = Enrichment(dict(alert.alert.annotations), list(alert.links), list(alert.enrichment_errors))
        labels = alert.alert.labels
        for workflow in workflows:
            for index, action in enumerate(workflow.actions):
                if not action.applies(labels):
                    continue
                where = f"{workflow.name}/{index} {action.type}"
                try:
                    async with asyncio.timeout(action.timeout_s):
                        await self._run(action, alert, result)
                except TimeoutError:
                    result.errors.append(f"{where}: no result within {action.timeout_s:g}s")
                except Exception as exc:  # noqa: BLE001 - one action's failure must not stop the alert
                    _failed(where, exc, result)
        return _with(alert, result)

    def _enriched(self, alert: EnrichedAlert, run) -> EnrichedAlert:
        workflows = self.triggered(alert)
        if not workflows:
            return alert
        result = Enrichment(dict(alert.alert.annotations), list(alert.links), list(alert.enrichment_errors))
        labels = alert.alert.labels
        for workflow in workflows:
            for index, action in enumerate(workflow.actions):
                if action.applies(labels):
                    try:
                        run(action, alert, result)
                    except Exception as exc:  # noqa: BLE001
                        _failed(f"{workflow.name}/{index} {action.type}", exc, result)
        return _with(alert, result)

    def _local(self, action, alert: EnrichedAlert, result: Enrichment) -> bool:
        """Annotation and link actions (no I/O); False for the others."""
        if isinstance(action, AnnotationsAction):
            context = template_context(alert, result.annotations)
            rendered = {name: template.render(context) for name, template in action.annotations.items()}
            for name, value in rendered.items():
                result.annotate(name, value, action.overwrite)
            return True
        if isinstance(action, LinkAction):
            context = template_context(alert, result.annotations)
            url = action.url.render(context)
            _check_url(url)
            result.links.append(Link(title=action.title.render(context), url=url))
            return True
        return False

    async def _run(self, action, alert: EnrichedAlert, result: Enrichment) -> None:
        if self._local(action, alert, result):
            return
        context = template_context(alert, result.annotations)
        if isinstance(action, HttpAction):
            for name, value in (await self._http_lookup(action, context)).items():
                result.annotate(name, value, action.overwrite)
        elif isinstance(action, ScriptAction):
            answer = await _run_script(action, alert)
            for name, value in answer.get("annotations", {}).items():
                result.annotate(name, value, action.overwrite)
            for link in answer.get("links", []):
                _check_url(link["url"])
                result.links.append(Link(title=link["title"], url=link["url"]))

    async def _http_lookup(self, action: HttpAction, context: dict[str, Any]) -> dict[str, str]:
        url = action.url.render(context)
        _check_url(url)
        headers = {name: template.render(context) for name, template in action.headers.items()}
        body = orjson.dumps({k: t.render(context) for k, t in action.body.items()}) if action.method == "POST" else None
        cache_key = orjson.dumps([action.method, url, sorted(headers.items()), body and body.decode()]).decode()
        document = self._lookups.get(cache_key)
        if document is None:
            try:
                response = await self._http.request(action.method, url, headers=headers, content=body,
                                                    timeout=action.timeout_s)
            except httpx.HTTPError as exc:
                raise ActionFailed(f"{action.method} {_redacted(url)}: {type(exc).__name__}: {exc}") from None
            if response.status_code != 200:
                raise ActionFailed(f"{action.method} {_redacted(url)}: HTTP {response.status_code}")
            try:
                document = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise ActionFailed(f"{action.method} {_redacted(url)}: the answer is not JSON") from None
            if not isinstance(document, dict):
                raise ActionFailed(f"{action.method} {_redacted(url)}: expected a JSON object")
            self._lookups.put(cache_key, document, action.cache_ttl_s)
        return _lookup_annotations(document, action)

    async def close(self) -> None:
        await self._http.aclose()


def _lookup_annotations(document: dict[str, Any], action: HttpAction) -> dict[str, str]:
    if not action.result:
        return {k: _text(v) for k, v in document.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    out = {}
    for name, expression in action.result.items():
        value = expression.search(document)  # type: ignore[attr-defined]
        if value is not None:
            out[name] = _text(value)
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def _run_script(action: ScriptAction, alert: EnrichedAlert) -> dict[str, Any]:
    env = {"PATH": SAFE_PATH}
    env.update({name: os.environ[name] for name in action.env if name in os.environ})
    try:
        process = await asyncio.create_subprocess_exec(
            *action.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:
        raise ActionFailed(f"cannot start {action.command[0]}: {exc.strerror or exc}") from None
    try:
        stdout, stderr = await process.communicate(wire_json(alert))
    except BaseException:
        # Timeout or cancellation: neither the script nor anything it started may outlive the action
        # (it runs in its own session, so its process group is exactly that).
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        raise
    if process.returncode != 0:
        raise ActionFailed(f"{action.command[0]} exited with {process.returncode}: "
                           f"{stderr.decode(errors='replace').strip()[-300:]}")
    if len(stdout) > MAX_OUTPUT_BYTES:
        raise ActionFailed(f"{action.command[0]} wrote more than {MAX_OUTPUT_BYTES} bytes")
    return _script_answer(stdout, action.command[0])


def wire_json(alert: EnrichedAlert) -> bytes:
    """What a script reads on stdin: the alert as on the wire (JSON, snake_case)."""
    return wire.encode(alert)


def _script_answer(stdout: bytes, name: str) -> dict[str, Any]:
    try:
        answer = orjson.loads(stdout or b"{}")
    except orjson.JSONDecodeError:
        raise ActionFailed(f"{name} did not write JSON on stdout") from None
    annotations = answer.get("annotations", {}) if isinstance(answer, dict) else None
    links = answer.get("links", []) if isinstance(answer, dict) else None
    if not isinstance(annotations, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in annotations.items()):
        raise ActionFailed(f"{name}: expected {{\"annotations\": {{name: text}}, \"links\": [...]}} on stdout")
    if not isinstance(links, list) or not all(isinstance(l, dict) and isinstance(l.get("title"), str)
                                              and isinstance(l.get("url"), str) for l in links):
        raise ActionFailed(f"{name}: links must be a list of {{\"title\": ..., \"url\": ...}}")
    return {"annotations": annotations, "links": links}


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ActionFailed(f"not an http(s) URL: {url[:200]!r}")


def _redacted(url: str) -> str:
    # Query strings often carry tokens; enrichment errors travel to every downstream consumer.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
