"""The route tree of Alertmanager 0.25 (dispatch/route.go) and group keys (dispatch/dispatch.go).

Build it with :func:`build_route_tree` from a loaded :class:`~pipeline.amconfig.model.RouteConfig`
(or ``config.routing_tree()``). Options are inherited as ``NewRoute`` inherits them: receiver,
group_by (``group_by: []`` inherits too), group_by_all, and the three timers; ``continue`` and the
mute/active time interval names are *not* inherited, they belong to the node that names them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from pipeline.matchers import Matchers, go_quote

if TYPE_CHECKING:
    from pipeline.amconfig.model import AlertmanagerConfig, RouteConfig

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


@dataclass(frozen=True)
class RouteOpts:
    """The options in force for alerts that end on a route (Go's ``RouteOpts`` plus ``continue_``)."""

    receiver: str = ""
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait: timedelta = DEFAULT_GROUP_WAIT
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    continue_: bool = False  # this node's own flag; never inherited


DEFAULT_ROUTE_OPTS = RouteOpts()


@dataclass(eq=False)
class Route:
    """A node of the route tree. Identity matters (two nodes may have equal keys), so ``==`` is ``is``."""

    opts: RouteOpts
    matchers: Matchers
    routes: list[Route] = field(default_factory=list)
    parent: Route | None = field(default=None, repr=False)
    config: RouteConfig | None = field(default=None, repr=False)

    @property
    def continue_(self) -> bool:
        return self.opts.continue_

    @property
    def receiver(self) -> str:
        return self.opts.receiver

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """``Route.Match``: depth-first, left to right; the first matching child ends the search unless
        it has ``continue``; a node none of whose children match is itself the match."""
        if not self.matchers.matches(labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matches = child.match(labels)
            found.extend(matches)
            if matches and not child.continue_:
                break
        if not found:
            found.append(self)
        return found

    def key(self) -> str:
        """``Route.Key``: the parent's key, ``/``, and this node's ``Matchers.String()``."""
        own = str(self.matchers)
        return f"{self.parent.key()}/{own}" if self.parent is not None else own

    def id(self) -> str:
        """The key plus the node's position among its siblings (unique where keys are not)."""
        if self.parent is None:
            return self.key()
        position = next(i for i, sibling in enumerate(self.parent.routes) if sibling is self)
        return f"{self.key()}/{position}"

    def walk(self) -> Iterator[Route]:
        """Every node, depth-first (``Route.Walk``)."""
        yield self
        for child in self.routes:
            yield from child.walk()

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        return group_labels(self, labels)

    def group_key(self, labels: Mapping[str, str]) -> str:
        return group_key(self, labels)


def build_route_tree(config: RouteConfig, parent: Route | None = None) -> Route:
    """``NewRoute``: a node with its options inherited from ``parent`` (or the defaults)."""
    base = parent.opts if parent is not None else DEFAULT_ROUTE_OPTS
    group_by = base.group_by
    group_by_all = base.group_by_all
    if config.group_by is not None:
        group_by = frozenset(config.group_by)
        group_by_all = False
    elif config.group_by_all:
        group_by_all = True
    opts = RouteOpts(
        receiver=config.receiver or base.receiver,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=config.group_wait if config.group_wait is not None else base.group_wait,
        group_interval=config.group_interval if config.group_interval is not None else base.group_interval,
        repeat_interval=config.repeat_interval if config.repeat_interval is not None else base.repeat_interval,
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
        continue_=config.continue_,
    )
    route = Route(opts=opts, matchers=config.matchers, parent=parent, config=config)
    route.routes = [build_route_tree(child, route) for child in config.routes]
    return route


def group_labels(route: Route, labels: Mapping[str, str]) -> dict[str, str]:
    """``getGroupLabels``: the alert's labels named in group_by, or all of them for ``...``."""
    if route.opts.group_by_all:
        return dict(labels)
    return {name: value for name, value in labels.items() if name in route.opts.group_by}


def label_set_string(labels: Mapping[str, str]) -> str:
    """prometheus/common ``LabelSet.String()``: ``{a="1", b="2"}``.

    Go sorts the formatted ``name="value"`` strings, not the names, so ``a1`` comes before ``a``
    (``'1' < '='``); this does the same."""
    parts = sorted(f"{name}={go_quote(value)}" for name, value in labels.items())
    return "{" + ", ".join(parts) + "}"


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """The aggregation group key: ``route.key() + ":" + LabelSet.String()`` of the group labels."""
    return f"{route.key()}:{label_set_string(group_labels(route, labels))}"


def routes_test(config: AlertmanagerConfig | Route, labels: Mapping[str, str]) -> list[str]:
    """The receivers ``amtool config routes test`` prints for these labels, in order (it joins them
    with ``,``). Duplicates are kept, as amtool keeps them."""
    tree = config if isinstance(config, Route) else config.routing_tree()
    return [route.receiver for route in tree.match(labels)]
