"""Which Kubernetes object states are alerts: pure functions from API objects (plain JSON dicts, shaped as
in the Kubernetes API reference: core/v1 Pod, Node, Event) to the conditions they hold at ``now``.

A condition is identified by its alert's labels (the same labels give the same fingerprint), and
carries a start that stays the same while the condition holds (dedup would otherwise see every
refresh as an update) and, for point-in-time conditions (an OOM kill, a warning event), its own end.

- KubePodCrashLooping: a container waits in CrashLoopBackOff after at least crash_loop_restarts
  restarts; labels namespace, pod, container, node; ends when it no longer waits so.
- KubeContainerOOMKilled: a container's current (else last) termination is OOMKilled and finished
  within oom_window; labels namespace, pod, container, node; ends at finishedAt + oom_window.
- KubePodImagePullFailing: a container waits in ErrImagePull, ImagePullBackOff, InvalidImageName or
  ErrImageNeverPull; labels namespace, pod, container, node; ends when it no longer does.
- KubePodPending: phase Pending for pending_after since creation; labels namespace, pod (node when
  scheduled); ends when the phase changes.
- KubeNodeNotReady: condition Ready not True for node_not_ready_after; label node; ends when Ready is True.
- KubeWarningEvent: a Warning event (reasons filtered); labels namespace, reason, kind, object, and pod
  or node; ends warning_events.window after it was last seen.

Every alert also has ``cluster`` (kubernetes.cluster) and ``severity`` (critical for nodes, else warning).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest.timestamps import parse_rfc3339
from pipeline.sources.model import KubernetesConfig

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
TEXT_CAP = 1024  # annotations carry API messages; kept short


@dataclass(frozen=True)
class Condition:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None  # None: refreshed while it holds, resolved when it clears
    severity: str = "warning"

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return condition_key(self.labels)


def condition_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A condition's identity: its alert's labels (what the fingerprint is computed over)."""
    return tuple(sorted(labels.items()))


@dataclass
class Object:
    """What the source remembers of one watched object: its identity and the conditions it holds."""

    kind: str
    namespace: str
    name: str
    conditions: dict[tuple, Condition] = field(default_factory=dict)
    pending_since: datetime | None = None  # a Pending pod not yet past pending_after
    not_ready_since: datetime | None = None  # a NotReady node not yet past node_not_ready_after


def _text(value: Any) -> str | None:
    return value[:TEXT_CAP] if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def object_id(obj: Mapping[str, Any]) -> str | None:
    """The uid of an API object (namespace/name when a fake or old server gives none)."""
    uid = _get(obj, "metadata", "uid")
    if isinstance(uid, str) and uid:
        return uid
    name = _get(obj, "metadata", "name")
    return f"{_get(obj, 'metadata', 'namespace') or ''}/{name}" if isinstance(name, str) else None


def _labels(alertname: str, cluster: str, severity: str, **labels: str | None) -> dict[str, str]:
    found = {name: value for name, value in labels.items() if value}
    return {"alertname": alertname, "cluster": cluster, "severity": severity, **found}


def pod_conditions(pod: Mapping[str, Any], now: datetime, config: KubernetesConfig,
                   first_seen: Mapping[tuple, datetime] | None = None
                   ) -> tuple[dict[tuple, Condition], datetime | None]:
    """(conditions of the pod at ``now``, when its Pending time passes pending_after if that is still ahead).

    ``first_seen``: when the source first saw each held condition; a condition without a time of its
    own in the object (crash loop, image pull) starts then, so a refresh keeps its start.
    """
    first_seen = first_seen or {}
    namespace = _text(_get(pod, "metadata", "namespace")) or ""
    name = _text(_get(pod, "metadata", "name")) or ""
    node = _text(_get(pod, "spec", "nodeName"))
    status = _get(pod, "status") or {}
    found: dict[tuple, Condition] = {}

    def add(alertname: str, severity: str, starts: datetime | None, annotations: dict[str, str | None],
            ends: datetime | None = None, container: str | None = None) -> None:
        labels = _labels(alertname, config.cluster, severity, namespace=namespace, pod=name, container=container,
                         node=node)
        key = condition_key(labels)
        found[key] = Condition(labels, {k: v for k, v in annotations.items() if v},
                               starts or first_seen.get(key) or now, ends, severity)

    statuses = _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses"))
    for container in statuses:
        container_name = _text(container.get("name"))
        waiting = _get(container, "state", "waiting") or {}
        reason = waiting.get("reason") if isinstance(waiting, Mapping) else None
        restarts = container.get("restartCount") if isinstance(container.get("restartCount"), int) else 0
        if reason == "CrashLoopBackOff" and restarts >= config.crash_loop_restarts:
            add("KubePodCrashLooping", "warning", None, {
                "summary": f"{namespace}/{name}: container {container_name} is crash looping ({restarts} restarts)",
                "description": _text(waiting.get("message"))}, container=container_name)
        elif reason in IMAGE_PULL_REASONS:
            add("KubePodImagePullFailing", "warning", None, {
                "summary": f"{namespace}/{name}: container {container_name} cannot pull its image ({reason})",
                "description": _text(waiting.get("message")), "image": _text(container.get("image"))},
                container=container_name)
        for state in ("state", "lastState"):
            terminated = _get(container, state, "terminated")
            if isinstance(terminated, Mapping) and terminated.get("reason") == "OOMKilled":
                finished = _time(terminated.get("finishedAt")) or _time(terminated.get("startedAt"))
                if finished is not None and now < finished + config.oom_window:
                    add("KubeContainerOOMKilled", "warning", finished, {
                        "summary": f"{namespace}/{name}: container {container_name} was OOM killed",
                        "description": f"exit code {terminated.get('exitCode')}, restarts {restarts}"},
                        ends=finished + config.oom_window, container=container_name)
                break  # the current termination, else the last one: one OOM kill is one alert
    pending_due = None
    if status.get("phase") == "Pending":
        created = _time(_get(pod, "metadata", "creationTimestamp")) or now
        due = created + config.pending_after
        if now >= due:
            scheduled = next((c for c in _list(status.get("conditions")) if c.get("type") == "PodScheduled"), {})
            add("KubePodPending", "warning", created, {
                "summary": f"{namespace}/{name} has been pending for more than {_duration(config.pending_after)}",
                "description": _text(scheduled.get("message")) or _text(status.get("message")),
                "reason": _text(scheduled.get("reason")) or _text(status.get("reason"))})
        else:
            pending_due = due
    return found, pending_due


def node_conditions(node: Mapping[str, Any], now: datetime, config: KubernetesConfig
                    ) -> tuple[dict[tuple, Condition], datetime | None]:
    """(conditions of the node at ``now``, when its NotReady time passes node_not_ready_after if still ahead)."""
    name = _text(_get(node, "metadata", "name")) or ""
    ready = next((c for c in _list(_get(node, "status", "conditions")) if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") == "True":
        return {}, None
    since = _time(ready.get("lastTransitionTime")) or now
    due = since + config.node_not_ready_after
    if now < due:
        return {}, due
    labels = _labels("KubeNodeNotReady", config.cluster, "critical", node=name)
    condition = Condition(labels, {k: v for k, v in {
        "summary": f"node {name} is not ready (Ready={ready.get('status')}) for more than "
                   f"{_duration(config.node_not_ready_after)}",
        "description": _text(ready.get("message")), "reason": _text(ready.get("reason"))}.items() if v},
        since, None, "critical")
    return {condition.key: condition}, None


def event_condition(event: Mapping[str, Any], now: datetime, config: KubernetesConfig) -> Condition | None:
    """The alert of a Warning event, or None (another type, a filtered reason, or its window is over)."""
    settings = config.warning_events
    if not settings.enabled or event.get("type") != "Warning":
        return None
    reason = _text(event.get("reason")) or "Unknown"
    if reason in settings.exclude_reasons or (settings.include_reasons and reason not in settings.include_reasons):
        return None
    involved = event.get("involvedObject") if isinstance(event.get("involvedObject"), Mapping) else {}
    kind, name = _text(involved.get("kind")) or "", _text(involved.get("name")) or ""
    namespace = _text(involved.get("namespace")) or _text(_get(event, "metadata", "namespace")) or ""
    first = (_time(event.get("firstTimestamp")) or _time(event.get("eventTime"))
             or _time(_get(event, "metadata", "creationTimestamp")) or now)
    last = (_time(event.get("lastTimestamp")) or _time(_get(event, "series", "lastObservedTime"))
            or _time(event.get("eventTime")) or first)
    ends = last + settings.window
    if ends <= now:
        return None
    extra = {"pod": name} if kind == "Pod" else {"node": name} if kind == "Node" else {}
    labels = _labels("KubeWarningEvent", config.cluster, "warning", namespace=namespace, reason=reason, kind=kind,
                     object=name, **extra)
    count = event.get("count") if isinstance(event.get("count"), int) else None
    annotations = {k: v for k, v in {
        "summary": f"{kind} {namespace + '/' if namespace else ''}{name}: {reason}",
        "description": _text(event.get("message")),
        "count": str(count) if count is not None else None,
        "source_component": _text(_get(event, "source", "component")) or _text(event.get("reportingComponent")),
    }.items() if v}
    return Condition(labels, annotations, first, ends)


def iter_items(document: Any) -> Iterator[Mapping[str, Any]]:
    """The items of a list answer (PodList, NodeList, EventList)."""
    yield from _list(_get(document, "items"))


def _duration(delta: timedelta) -> str:
    from pipeline.durations import format_duration

    return format_duration(delta)
