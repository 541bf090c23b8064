"""route: muted alerts → one routed record per matching route, plus the public enriched feed.

The route tree is Alertmanager's (pipeline.routing). Each match becomes one routed record keyed by
its group key, so every alert of an aggregation group reaches the same grouping worker; the enriched
feed gets the alert once, with every routing decision, for downstream consumers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.models import EnrichedAlert, RouteMatch, replace
from pipeline.routing import Route
from pipeline.stages.processor import Emit, Processor, Record


@dataclass(frozen=True)
class Routed:
    fingerprint: bytes
    enriched: EnrichedAlert                       # to the enriched feed, keyed by fingerprint
    routed: list[tuple[bytes, EnrichedAlert]]     # (group key, record) for the group stage


def route_matches(tree: Route, labels: dict[str, str]) -> list[RouteMatch]:
    """Every route the alert ends on, in Alertmanager's order, with its group."""
    return [
        RouteMatch(receiver=route.receiver, route_key=route.id(), group_key=route.group_key(labels),
                   group_labels=dict(sorted(route.group_labels(labels).items())))
        for route in tree.match(labels)
    ]


def route_record(event: EnrichedAlert, tree: Route) -> Routed:
    """One muted alert through the route tree. Pure."""
    matches = route_matches(tree, event.alert.labels)
    enriched = replace(event, routes=matches)
    if len(matches) == 1:  # the common case: the routed record is the enriched one
        return Routed(event.alert.fingerprint.encode(), enriched, [(matches[0].group_key.encode(), enriched)])
    routed = [(match.group_key.encode(), replace(event, routes=[match])) for match in matches]
    return Routed(event.alert.fingerprint.encode(), enriched, routed)


class RouteProcessor(Processor):
    STAGE = "route"
    OUTPUTS = ("routed", "enriched")

    def __init__(self, tree: Route):
        self.tree = tree

    @classmethod
    def from_settings(cls, settings, topology) -> RouteProcessor:
        from pipeline.alertmanager_config import load_alertmanager_config

        return cls(load_alertmanager_config(settings.alertmanager_config).routing_tree())

    def process(self, record: Record, state, now):
        outcome = route_record(record.value, self.tree)
        emits = [Emit("routed", key, routed) for key, routed in outcome.routed]
        emits.append(Emit("enriched", outcome.fingerprint, outcome.enriched))
        return emits
