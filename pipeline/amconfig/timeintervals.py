"""Named time intervals of the configuration.

Read here with line numbers; parsed and evaluated by pipeline.muting.time_intervals, the one
implementation of Alertmanager's timeinterval package (checked against vectors generated from
Alertmanager 0.25's own Go code, daylight-saving months included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from pipeline.amconfig.nodes import At
from pipeline.muting.time_intervals import TimeInterval, TimeIntervalError, parse_time_interval


@dataclass(frozen=True)
class NamedTimeInterval:
    name: str
    time_intervals: tuple[TimeInterval, ...]
    deprecated_mute_key: bool = False  # declared under the deprecated top-level mute_time_intervals
    line: int | None = None

    def contains(self, when: datetime) -> bool:
        """True when any of the intervals contains ``when`` (how Alertmanager evaluates a name)."""
        return any(interval.contains(when) for interval in self.time_intervals)


FIELDS = frozenset({"times", "weekdays", "days_of_month", "months", "years", "location"})


def read_spec(at: At) -> TimeInterval:
    """One ``time_intervals`` entry; a null entry matches all times, as in Alertmanager.

    Each field, and each item of a list field, is checked on its own first, so an error names
    the exact key path and line (``time_intervals[0].time_intervals[0].weekdays[1]``).
    """
    if at.is_null:
        return parse_time_interval({})
    for key, value in at.fields(FIELDS, "timeinterval.TimeInterval").items():
        items = value.sequence() if key != "location" and not value.is_null else [value]
        for item in items:
            text = _scalars_as_text(item.node)
            _check(item, {key: text if key == "location" or value.is_null else [text]})
    return _check(at, _scalars_as_text(at.node))


def _check(at: At, data: Any) -> TimeInterval:
    try:
        return parse_time_interval(data)
    except TimeIntervalError as exc:
        raise at.error(str(exc)) from None


def _scalars_as_text(node: yaml.Node) -> Any:
    """The node as plain data with every scalar as its text, as yaml.v2 hands Go strings over.

    PyYAML's own construction would read ``10:30`` as the base-60 integer 630 and ``2020:2022`` as a
    large number; Alertmanager reads both as text.
    """
    if isinstance(node, yaml.MappingNode):
        return {str(key.value): _scalars_as_text(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_scalars_as_text(item) for item in node.value]
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)
