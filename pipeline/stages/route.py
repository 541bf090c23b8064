"""route: alerts.muted → alerts.routed (one record per matching route) and alerts.enriched.

The route tree is Alertmanager's (pipeline.routing). Each match becomes one alerts.routed record
keyed by its group key, so every alert of an aggregation group reaches the same grouping worker;
alerts.enriched gets the alert once, with every routing decision, for downstream consumers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import wire
from pipeline.dead_letters import Rejected
from pipeline.models import EnrichedAlert, RouteMatch, replace
from pipeline.routing import Route
from pipeline.settings import Settings


@dataclass(frozen=True)
class Routed:
    fingerprint: bytes
    enriched: bytes                       # to alerts.enriched, keyed by fingerprint
    routed: list[tuple[bytes, bytes]]     # (group key, record) to alerts.routed


def route_matches(tree: Route, labels: dict[str, str]) -> list[RouteMatch]:
    """Every route the alert ends on, in Alertmanager's order, with its group."""
    return [
        RouteMatch(receiver=route.receiver, route_key=route.id(), group_key=route.group_key(labels),
                   group_labels=dict(sorted(route.group_labels(labels).items())))
        for route in tree.match(labels)
    ]


def route_record(value: bytes | None, tree: Route) -> Routed | Rejected:
    """One muted alert through the route tree. Pure."""
    try:
        event = wire.decode(EnrichedAlert, value)
    except wire.WireError as exc:
        return Rejected("WireError", str(exc))
    matches = route_matches(tree, event.alert.labels)
    enriched = wire.encode(replace(event, routes=matches))
    if len(matches) == 1:  # the common case: the routed record is the enriched one, encoded once
        return Routed(event.alert.fingerprint.encode(), enriched, [(matches[0].group_key.encode(), enriched)])
    routed = [
        (match.group_key.encode(), wire.encode(replace(event, routes=[match])))
        for match in matches
    ]
    return Routed(event.alert.fingerprint.encode(), enriched, routed)


def run(settings: Settings) -> None:
    from pipeline.alertmanager_config import load_alertmanager_config
    from pipeline.runtime.app import StageApp

    tree = load_alertmanager_config(settings.alertmanager_config).routing_tree()
    stage = StageApp("route", settings)
    muted = stage.topic("alerts.muted")

    routed, enriched = settings.topic("alerts.routed"), settings.topic("alerts.enriched")

    def handle(_key, value):
        outcome = route_record(value, tree)
        if isinstance(outcome, Rejected):
            return outcome
        records = [(routed, key, record, None) for key, record in outcome.routed]
        records.append((enriched, outcome.fingerprint, outcome.enriched, None))
        return records

    @stage.app.agent(muted, name="route")
    async def route_agent(stream):
        async for event in stream.noack().events():
            await stage.process(event, handle)

    stage.run()
