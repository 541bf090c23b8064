"""The loaded Alertmanager configuration: frozen dataclasses, defaults applied, matchers resolved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pipeline.amconfig.timeintervals import NamedTimeInterval
from pipeline.matchers import Matchers

if TYPE_CHECKING:
    from pipeline.routing import Route

DEFAULT_RESOLVE_TIMEOUT = timedelta(minutes=5)


@dataclass(frozen=True)
class GlobalConfig:
    """``global``: ``resolve_timeout`` plus the keys only integrations use, defaults applied
    (``smtp_hello`` "localhost", ``smtp_require_tls`` true, the PagerDuty/OpsGenie/WeChat/VictorOps/
    Telegram/Webex URLs, ``http_config`` {follow_redirects: true, enable_http2: true})."""

    resolve_timeout: timedelta = DEFAULT_RESOLVE_TIMEOUT
    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def http_config(self) -> Mapping[str, Any]:
        return self.values.get("http_config", {})


@dataclass(frozen=True)
class RouteConfig:
    """One ``route`` node as written (nothing inherited yet; see :mod:`pipeline.routing`).

    ``matchers`` merges ``match`` (``=``), ``match_re`` (``=~`` with the value stored anchored,
    ``^(?:…)$``, as Alertmanager stores it) and ``matchers``, sorted as Alertmanager sorts them.
    ``group_by`` is ``None`` when the node names no labels (it then inherits), ``group_by_all`` is
    true for ``['...']``; ``None`` timings inherit too.
    """

    receiver: str = ""
    group_by: tuple[str, ...] | None = None
    group_by_all: bool = False
    continue_: bool = False
    matchers: Matchers = field(default_factory=Matchers)
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    path: str = "route"
    line: int | None = None


@dataclass(frozen=True)
class Integration:
    """One entry of a receiver's integration list, as a plain dict for the sinks.

    ``config`` holds the keys as written plus Alertmanager's defaults and ``global`` fallbacks
    (``send_resolved``, ``http_config``, API URLs and keys, SMTP settings, ...)."""

    list_key: str  # e.g. "webhook_configs"
    kind: str  # e.g. "webhook"
    index: int
    config: Mapping[str, Any]
    line: int | None = None

    @property
    def send_resolved(self) -> bool:
        return bool(self.config.get("send_resolved"))


@dataclass(frozen=True)
class Receiver:
    name: str
    integrations: tuple[Integration, ...] = ()
    line: int | None = None

    def of_kind(self, kind: str) -> tuple[Integration, ...]:
        """The integrations of one kind, ``"webhook"`` or ``"webhook_configs"``."""
        return tuple(i for i in self.integrations if kind in (i.kind, i.list_key))


@dataclass(frozen=True)
class InhibitRule:
    """An inhibition rule; ``source_match``/``source_match_re`` are merged into ``source_matchers``
    (and likewise for targets), regex values anchored as Alertmanager does."""

    source_matchers: Matchers = field(default_factory=Matchers)
    target_matchers: Matchers = field(default_factory=Matchers)
    equal: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class AlertmanagerConfig:
    global_config: GlobalConfig
    route: RouteConfig
    receivers: tuple[Receiver, ...]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, NamedTimeInterval] = field(default_factory=dict)
    templates: tuple[str, ...] = ()  # relative paths resolved against the file's directory
    source: str = "<config>"

    @property
    def resolve_timeout(self) -> timedelta:
        return self.global_config.resolve_timeout

    def receiver(self, name: str) -> Receiver:
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        raise KeyError(name)

    def routing_tree(self) -> Route:
        """The route tree with inherited options (:class:`pipeline.routing.Route`)."""
        from pipeline.routing import build_route_tree

        return build_route_tree(self.route)
