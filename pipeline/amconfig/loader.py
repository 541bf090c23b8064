"""Loading an Alertmanager 0.25 configuration file unchanged, refusing what Alertmanager refuses.

Validation follows config/config.go of Alertmanager 0.25 (and yaml.v2's UnmarshalStrict): unknown
keys, wrong types, duplicate keys, invalid label names and matchers, durations, zero
group_interval/repeat_interval, ``...`` mixed with names in group_by, a root route with matchers,
continue or time intervals or without a receiver, undefined or duplicate receivers, undefined or
duplicate time intervals, and each integration's own rules. Every error names the key path and the
line (:class:`~pipeline.amconfig.errors.ConfigError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from pipeline.amconfig.errors import ConfigError
from pipeline.amconfig.model import (
    DEFAULT_RESOLVE_TIMEOUT,
    AlertmanagerConfig,
    GlobalConfig,
    InhibitRule,
    Integration,
    Receiver,
    RouteConfig,
)
from pipeline.amconfig.nodes import At
from pipeline.amconfig.schema import (
    GLOBAL,
    GLOBAL_DEFAULTS,
    INTEGRATION_KINDS,
    INTEGRATIONS,
    NEWER_INTEGRATIONS,
    apply_global,
    convert,
)
from pipeline.amconfig.timeintervals import NamedTimeInterval, read_spec
from pipeline.amconfig.values import is_valid_label_name, parse_model_duration
from pipeline.matchers import Matcher, MatcherError, Matchers, MatchType, parse_matchers

TOP_LEVEL = {"global", "route", "inhibit_rules", "receivers", "templates", "mute_time_intervals", "time_intervals"}
ROUTE_FIELDS = {
    "receiver", "group_by", "continue", "match", "match_re", "matchers", "group_wait", "group_interval",
    "repeat_interval", "mute_time_intervals", "active_time_intervals", "routes",
}
INHIBIT_FIELDS = {
    "source_match", "source_match_re", "source_matchers", "target_match", "target_match_re", "target_matchers",
    "equal",
}


def load_config(path: str | os.PathLike[str]) -> AlertmanagerConfig:
    """Read and validate an Alertmanager configuration file (templates resolved against its directory)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=str(path)) from None
    return parse_config(text, str(path), base_dir=path.parent)


def parse_config(text: str, source_name: str = "<config>", *, base_dir: str | os.PathLike[str] | None = None
                 ) -> AlertmanagerConfig:
    """Parse and validate configuration text; ``base_dir`` resolves relative template paths."""
    try:
        return _Loader(base_dir).load(text, source_name)
    except ConfigError as exc:
        raise exc.with_source(source_name) from None


# -----------------------------------------------------------------------------------------------


def _compose(text: str) -> yaml.Node | None:
    try:
        for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
            return document  # yaml.v2 decodes the first document only
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"yaml: {reason}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"yaml: {exc}") from None


class _Loader:
    def __init__(self, base_dir: str | os.PathLike[str] | None) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else None

    def load(self, text: str, source: str) -> AlertmanagerConfig:
        root_node = _compose(text)
        if root_node is None or (isinstance(root_node, yaml.ScalarNode) and root_node.tag.endswith(":null")):
            raise ConfigError("no route provided in config")
        doc = At(root_node, "")
        fields = doc.fields(TOP_LEVEL, "config.plain")

        global_config, global_at = self._global(fields.get("global"))
        receivers_at = fields.get("receivers")
        receivers, receiver_nodes = self._receivers(receivers_at)
        route_at = fields.get("route")
        route = self._route(route_at) if route_at is not None and not route_at.is_null else None
        inhibit_rules = tuple(self._inhibit_rule(item) for item in (fields["inhibit_rules"].sequence()
                                                                     if "inhibit_rules" in fields else []))
        templates = self._templates(fields.get("templates"))
        mute_intervals = self._named_intervals(fields.get("mute_time_intervals"), deprecated=True)
        time_intervals = self._named_intervals(fields.get("time_intervals"), deprecated=False)

        # --- Config.UnmarshalYAML, in Alertmanager's order.
        g = global_config.values
        for a, b in (("slack_api_url", "slack_api_url_file"), ("opsgenie_api_key", "opsgenie_api_key_file"),
                     ("victorops_api_key", "victorops_api_key_file"),
                     ("smtp_auth_password", "smtp_auth_password_file")):
            if g.get(a) and g.get(b):
                raise (global_at or doc).error(f"at most one of {a} & {b} must be configured")

        names: set[str] = set()
        resolved: list[Receiver] = []
        for receiver, node in zip(receivers, receiver_nodes):
            if receiver.name in names:
                raise node.error(f'notification config name "{receiver.name}" is not unique')
            integrations = []
            for integration, integration_at in receiver.integrations:
                cfg = integration.config
                apply_global(integration.list_key, cfg, g, integration_at.error)
                integrations.append(integration)
            resolved.append(Receiver(receiver.name, tuple(integrations), receiver.line))
            names.add(receiver.name)

        if route is None:
            raise (route_at or doc).error("no routes provided")
        assert route_at is not None
        if not route.receiver:
            raise route_at.error("root route must specify a default receiver")
        if route.matchers or route.has_match_keys:
            raise route_at.error("root route must not have any matchers")
        if route.mute_time_intervals:
            raise route_at.error("root route must not have any mute time intervals")
        if route.active_time_intervals:
            raise route_at.error("root route must not have any active time intervals")
        _check_receivers(route, names)

        intervals: dict[str, NamedTimeInterval] = {}
        for interval in mute_intervals:
            if interval.name in intervals:
                raise ConfigError(f'mute time interval "{interval.name}" is not unique',
                                  path="mute_time_intervals", line=interval.line)
            intervals[interval.name] = interval
        for interval in time_intervals:
            if interval.name in intervals:
                raise ConfigError(f'time interval "{interval.name}" is not unique', path="time_intervals",
                                  line=interval.line)
            intervals[interval.name] = interval
        _check_time_intervals(route, intervals)

        # Load(): continue on the root route is refused after unmarshalling.
        if route.continue_:
            raise route_at.error("cannot have continue in root route")

        return AlertmanagerConfig(
            global_config=global_config,
            route=route.to_config(),
            receivers=tuple(resolved),
            inhibit_rules=inhibit_rules,
            time_intervals=intervals,
            templates=templates,
            source=source,
        )

    # -- global
    def _global(self, at: At | None) -> tuple[GlobalConfig, At | None]:
        values: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in GLOBAL_DEFAULTS.items()}
        resolve_timeout = DEFAULT_RESOLVE_TIMEOUT
        if at is None or at.is_null:
            return GlobalConfig(resolve_timeout, values), at
        given = at.fields(GLOBAL.fields, "config.plain")
        for key, value_at in given.items():
            if key == "resolve_timeout":
                text = value_at.string()
                if text is not None:
                    resolve_timeout = _duration(value_at, text)
                continue
            value = convert(GLOBAL.fields[key], value_at)
            if value is not None:
                values[key] = value
        return GlobalConfig(resolve_timeout, values), at

    # -- receivers
    def _receivers(self, at: At | None) -> tuple[list[_RawReceiver], list[At]]:
        out: list[_RawReceiver] = []
        nodes: list[At] = []
        if at is None:
            return out, nodes
        known = {"name", *INTEGRATIONS, *NEWER_INTEGRATIONS}
        for item in at.sequence():
            if item.is_null:
                raise item.error("a receiver cannot be null")
            fields = item.fields(known, "config.plain")
            name = fields["name"].string() if "name" in fields else None
            if not name:
                raise (fields.get("name") or item).error("missing name in receiver")
            integrations: list[tuple[Integration, At]] = []
            for key, value_at in fields.items():
                if key == "name":
                    continue
                if key in NEWER_INTEGRATIONS:
                    raise value_at.error(
                        f"field {key} not found in type config.plain ({key} was added in "
                        f"{_release(NEWER_INTEGRATIONS[key])}; this pipeline follows Alertmanager 0.25)"
                    )
                for index, entry in enumerate(value_at.sequence()):
                    if entry.is_null:
                        raise entry.error(f"a {key} entry cannot be null")
                    config = convert(INTEGRATIONS[key], entry)
                    integrations.append((Integration(key, INTEGRATION_KINDS[key], index, config, entry.line), entry))
            out.append(_RawReceiver(name, integrations, item.line))
            nodes.append(item)
        return out, nodes

    # -- routes
    def _route(self, at: At) -> _RawRoute:
        fields = at.fields(ROUTE_FIELDS, "config.plain")
        raw = _RawRoute(path=at.path, line=at.line)
        matchers: list[Matcher] = []
        if "receiver" in fields:
            raw.receiver = fields["receiver"].string() or ""
        if "match" in fields:
            for key, key_at, value_at in fields["match"].mapping("map"):
                raw.has_match_keys = True
                if not is_valid_label_name(key):
                    raise At(key_at.node, value_at.path).error(f'invalid label name "{key}"')
                matchers.append(Matcher(key, MatchType.EQUAL, value_at.string() or ""))
        if "match_re" in fields:
            for key, key_at, value_at in fields["match_re"].mapping("map"):
                raw.has_match_keys = True
                matchers.append(_match_re(key, key_at, value_at))
        if "matchers" in fields:
            matchers.extend(_matchers_list(fields["matchers"]))
        raw.matchers = Matchers(matchers).sorted()
        if "group_by" in fields:
            names: list[str] = []
            by_all = False
            for item in fields["group_by"].sequence():
                label = item.string() or ""
                if label == "...":
                    by_all = True
                    continue
                if not is_valid_label_name(label):
                    raise item.error(f'invalid label name "{label}" in group_by list')
                names.append(label)
            if names and by_all:
                raise fields["group_by"].error(
                    "cannot have wildcard group_by (`...`) and other other labels at the same time")
            seen: set[str] = set()
            for label in names:
                if label in seen:
                    raise fields["group_by"].error(f'duplicated label "{label}" in group_by')
                seen.add(label)
            raw.group_by = tuple(names) if names else None
            raw.group_by_all = by_all
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in fields:
                text = fields[key].string()
                if text is not None:
                    setattr(raw, key, _duration(fields[key], text))
        if raw.group_interval is not None and raw.group_interval == timedelta(0):
            raise fields["group_interval"].error("group_interval cannot be zero")
        if raw.repeat_interval is not None and raw.repeat_interval == timedelta(0):
            raise fields["repeat_interval"].error("repeat_interval cannot be zero")
        if "continue" in fields:
            raw.continue_ = bool(fields["continue"].boolean())
        for key in ("mute_time_intervals", "active_time_intervals"):
            if key in fields:
                setattr(raw, key, tuple(fields[key].string_list()))
                raw.interval_nodes[key] = fields[key]
        if "routes" in fields:
            children = []
            for child in fields["routes"].sequence():
                if child.is_null:
                    raise child.error("a route cannot be null")
                children.append(self._route(child))
            raw.routes = children
        raw.at = at
        return raw

    # -- inhibit rules
    def _inhibit_rule(self, at: At) -> InhibitRule:
        if at.is_null:
            return InhibitRule(line=at.line)
        fields = at.fields(INHIBIT_FIELDS, "config.plain")
        sides: dict[str, list[Matcher]] = {"source": [], "target": []}
        for side in ("source", "target"):
            if f"{side}_match" in fields:
                for key, key_at, value_at in fields[f"{side}_match"].mapping("map"):
                    if not is_valid_label_name(key):
                        raise At(key_at.node, value_at.path).error(f'invalid label name "{key}"')
                    sides[side].append(Matcher(key, MatchType.EQUAL, value_at.string() or ""))
            if f"{side}_match_re" in fields:
                for key, key_at, value_at in fields[f"{side}_match_re"].mapping("map"):
                    sides[side].append(_match_re(key, key_at, value_at))
            if f"{side}_matchers" in fields:
                sides[side].extend(_matchers_list(fields[f"{side}_matchers"]))
        equal: list[str] = []
        if "equal" in fields:
            for item in fields["equal"].sequence():
                name = item.string()
                if name is None:
                    equal.append("")
                    continue
                if not is_valid_label_name(name):
                    raise item.error(f'"{name}" is not a valid label name')
                equal.append(name)
        return InhibitRule(
            source_matchers=Matchers(sides["source"]).sorted(),
            target_matchers=Matchers(sides["target"]).sorted(),
            equal=tuple(equal),
            line=at.line,
        )

    # -- templates, time intervals
    def _templates(self, at: At | None) -> tuple[str, ...]:
        if at is None:
            return ()
        out = []
        for text in at.string_list():
            if text and self.base_dir is not None and not os.path.isabs(text):
                text = str(self.base_dir / text)
            out.append(text)
        return tuple(out)

    def _named_intervals(self, at: At | None, *, deprecated: bool) -> list[NamedTimeInterval]:
        if at is None:
            return []
        out = []
        for item in at.sequence():
            if item.is_null:
                raise item.error("missing name in mute time interval" if deprecated else "missing name in time interval")
            fields = item.fields({"name", "time_intervals"}, "config.plain")
            name = fields["name"].string() if "name" in fields else None
            if not name:
                raise item.error("missing name in mute time interval" if deprecated else "missing name in time interval")
            specs = []
            if "time_intervals" in fields:
                for spec_at in fields["time_intervals"].sequence():
                    specs.append(read_spec(spec_at))
            out.append(NamedTimeInterval(name, tuple(specs), deprecated_mute_key=deprecated, line=item.line))
        return out


# -----------------------------------------------------------------------------------------------


class _RawReceiver:
    def __init__(self, name: str, integrations: list[tuple[Integration, At]], line: int) -> None:
        self.name = name
        self.integrations = integrations
        self.line = line


class _RawRoute:
    def __init__(self, path: str, line: int) -> None:
        self.path = path
        self.line = line
        self.receiver = ""
        self.group_by: tuple[str, ...] | None = None
        self.group_by_all = False
        self.continue_ = False
        self.matchers = Matchers()
        self.has_match_keys = False
        self.group_wait: timedelta | None = None
        self.group_interval: timedelta | None = None
        self.repeat_interval: timedelta | None = None
        self.mute_time_intervals: tuple[str, ...] = ()
        self.active_time_intervals: tuple[str, ...] = ()
        self.interval_nodes: dict[str, At] = {}
        self.routes: list[_RawRoute] = []
        self.at: At | None = None

    def to_config(self) -> RouteConfig:
        return RouteConfig(
            receiver=self.receiver,
            group_by=self.group_by,
            group_by_all=self.group_by_all,
            continue_=self.continue_,
            matchers=self.matchers,
            group_wait=self.group_wait,
            group_interval=self.group_interval,
            repeat_interval=self.repeat_interval,
            mute_time_intervals=self.mute_time_intervals,
            active_time_intervals=self.active_time_intervals,
            routes=tuple(child.to_config() for child in self.routes),
            path=self.path,
            line=self.line,
        )


def _release(version: str) -> str:
    return f"Alertmanager {version}" if version[:1].isdigit() else version


def _duration(at: At, text: str) -> timedelta:
    try:
        return parse_model_duration(text)
    except ValueError as exc:
        raise at.error(str(exc)) from None


def _match_re(key: str, key_at: At, value_at: At) -> Matcher:
    """A ``match_re`` entry: config.Regexp stores ``^(?:value)$``; the matcher keeps that string."""
    if not is_valid_label_name(key):
        raise At(key_at.node, value_at.path).error(f'invalid label name "{key}"')
    value = value_at.string()
    if value is None:
        raise value_at.error(f'invalid regexp value for "{key}"')
    try:
        Matcher(key, MatchType.REGEX, value)  # compiles "^(?:" + value + ")$", as config.Regexp does
        return Matcher(key, MatchType.REGEX, "^(?:" + value + ")$")
    except MatcherError as exc:
        raise value_at.error(str(exc)) from None


def _matchers_list(at: At) -> list[Matcher]:
    out: list[Matcher] = []
    for item in at.sequence():
        text = item.string() or ""
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            raise item.error(str(exc)) from None
    return out


def _check_receivers(route: _RawRoute, names: set[str]) -> None:
    """config.go checkReceiver: children first, then the node itself."""
    for child in route.routes:
        _check_receivers(child, names)
    if route.receiver and route.receiver not in names:
        at = route.at
        assert at is not None
        raise at.error(f'undefined receiver "{route.receiver}" used in route')


def _check_time_intervals(route: _RawRoute, intervals: Mapping[str, NamedTimeInterval]) -> None:
    for child in route.routes:
        _check_time_intervals(child, intervals)
    for key in ("active_time_intervals", "mute_time_intervals"):
        for name in getattr(route, key):
            if name not in intervals:
                raise route.interval_nodes[key].error(f'undefined time interval "{name}" used in route')
