"""The Alertmanager 0.25 configuration file: loading, validation, and amtool-like helpers.

    config = load_config("alertmanager.yml")      # raises ConfigError (with .line and .path)
    routes_test(config, {"service": "db"})        # ["team-db-pager"], as amtool config routes test
    check_report(config)                           # the "Found: ..." lines of amtool check-config
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.amconfig.errors import ConfigError
from pipeline.amconfig.loader import load_config, parse_config
from pipeline.amconfig.model import (
    DEFAULT_RESOLVE_TIMEOUT,
    AlertmanagerConfig,
    GlobalConfig,
    InhibitRule,
    Integration,
    Receiver,
    RouteConfig,
)
from pipeline.amconfig.schema import INTEGRATION_KINDS, NEWER_INTEGRATIONS
from pipeline.amconfig.timeintervals import NamedTimeInterval
from pipeline.muting.time_intervals import InclusiveRange, TimeInterval, TimeRange

__all__ = [
    "DEFAULT_RESOLVE_TIMEOUT",
    "INTEGRATION_KINDS",
    "NEWER_INTEGRATIONS",
    "AlertmanagerConfig",
    "ConfigError",
    "GlobalConfig",
    "InclusiveRange",
    "InhibitRule",
    "Integration",
    "NamedTimeInterval",
    "Receiver",
    "RouteConfig",
    "TimeInterval",
    "TimeRange",
    "check_report",
    "check_summary",
    "load_config",
    "parse_config",
    "parse_label_arguments",
    "routes_test",
    "routes_test_output",
]


def parse_label_arguments(arguments: Iterable[str]) -> dict[str, str]:
    """``label=value`` arguments as ``amtool config routes test`` reads them: each is one matcher
    (``a="x,y"`` quoting and escapes allowed), only ``=`` is allowed, a repeated name keeps the last.

    Raises :class:`~pipeline.matchers.MatcherError`; amtool prints it after "Failed to parse labels: "."""
    from pipeline.matchers import MatcherError, MatchType, parse_matcher

    labels: dict[str, str] = {}
    for argument in arguments:
        matcher = parse_matcher(argument)
        if matcher.type is not MatchType.EQUAL:
            raise MatcherError("labels must be specified as key=value pairs")
        labels[matcher.name] = matcher.value
    return labels


def routes_test(config: AlertmanagerConfig, labels: Mapping[str, str]) -> list[str]:
    """Receiver names, in order, for an alert with these labels (``amtool config routes test``)."""
    from pipeline.routing import routes_test as _routes_test

    return _routes_test(config, labels)


def routes_test_output(config: AlertmanagerConfig, labels: Mapping[str, str]) -> str:
    """The line amtool prints: the receivers joined by ``,`` (an empty line when none)."""
    return ",".join(routes_test(config, labels))


def check_summary(config: AlertmanagerConfig) -> list[str]:
    """The items ``amtool check-config`` lists under "Found:"."""
    return [
        "global config",
        "route",
        f"{len(config.inhibit_rules)} inhibit rules",
        f"{len(config.receivers)} receivers",
        f"{len(config.templates)} templates",
    ]


def check_report(config: AlertmanagerConfig) -> str:
    """``Found:`` and one `` - item`` line per :func:`check_summary` item, as amtool prints them."""
    return "Found:\n" + "".join(f" - {item}\n" for item in check_summary(config))
