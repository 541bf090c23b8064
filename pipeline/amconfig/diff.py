"""What changed between two Alertmanager configurations, in Alertmanager's terms.

Both sides are loaded by the project's loader (:func:`pipeline.amconfig.load_config`: validated,
defaults and ``global`` fallbacks applied, options inherited down the route tree), so the diff is of
the configuration in effect, not of the YAML text: reordering keys, spelling a default out or moving a
value to ``global`` changes nothing; a changed ``global`` default shows on the integrations that use it.

Sections, in the order printed: global, templates, time intervals, receivers, routes, inhibit rules.

* **routes** are paired by :func:`pipeline.route_identity.match_routes` (matchers, then receiver,
  continue and group_by; never by position), so a sibling added in front of a route does not make it
  another route. A route is named by where it is in the new file (the old file for a removed one),
  its matchers and its receiver: ``route.routes[2] {team="db"} → db-pager: group_wait 30s → 10s``.
  Changes are of effective values; a value a route inherits unchanged from a parent whose own value
  changed is reported once, on the parent ("in effect for 3 routes that inherit it").
* **receivers** by name; integrations by list and position (``pagerduty_configs[0]``), field by field.
  A receiver removed and one added with the same integrations is a rename.
* **inhibit rules** by content (source matchers, target matchers, equal labels as a set); their order
  does not matter to Alertmanager, so a reordering is no change. A rule whose ``equal`` alone changed is
  one changed rule.
* **time intervals** by name; **templates** by pattern (relative to the file) and by the contents of
  the files the patterns match.

Secrets are never shown: a field Alertmanager keeps as a ``Secret`` or ``SecretURL`` (and the webhook
URL, which routinely carries a token) reads ``<secret> changed``; credentials and query strings of other
URLs are masked. Comparison uses the real values; only the rendering hides them.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pipeline.amconfig.model import AlertmanagerConfig, InhibitRule, Integration, Receiver
from pipeline.amconfig.schema import ANY_URL, GLOBAL, HEADER_MAP, INTEGRATIONS, SECRET, STR_MAP, URL, ListOf, Obj
from pipeline.durations import format_duration
from pipeline.route_identity import RoutePair, descendants, match_routes, route_name, route_path
from pipeline.routing import Route

Section = Literal["global", "templates", "time_intervals", "receivers", "routes", "inhibit_rules"]
SECTIONS: tuple[Section, ...] = ("global", "templates", "time_intervals", "receivers", "routes", "inhibit_rules")
SECTION_TITLES = {"global": "global", "templates": "templates", "time_intervals": "time intervals",
                  "receivers": "receivers", "routes": "routes", "inhibit_rules": "inhibit rules"}
SECRET_SHOWN = "<secret>"

# Fields that are SecretURL in Alertmanager (schema.URL covers both URL and SecretURL), plus the webhook
# URL: Alertmanager 0.25 types it as a plain URL, later releases as a secret, and it often holds a token.
SECRET_URL_FIELDS = {
    ("global", "slack_api_url"),
    ("slack_configs", "api_url"),
    ("discord_configs", "webhook_url"),
    ("msteamsv2_configs", "webhook_url"),
    ("webhook_configs", "url"),
}
# Bounds on the template files read (patterns are globs).
MAX_TEMPLATE_FILES = 1000
MAX_TEMPLATE_BYTES = 16 * 1024 * 1024


# --- the result --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    """One value that differs. ``old``/``new`` are display strings (``None``: not set); a secret's are
    :data:`SECRET_SHOWN`. ``note`` qualifies it ("inherited", "in effect for 2 routes that inherit it")."""

    field: str
    old: str | None
    new: str | None
    secret: bool = False
    note: str = ""

    def words(self) -> str:
        if self.secret:
            what = "changed" if self.old is not None and self.new is not None else (
                "set" if self.old is None else "removed")
            text = f"{self.field}: {SECRET_SHOWN} {what}"
        elif self.old is None and self.new is None:
            text = f"{self.field} {self.note}"
            return text
        elif self.old is None:
            text = f"{self.field} set to {self.new}"
        elif self.new is None:
            text = f"{self.field} unset (was {self.old})"
        else:
            text = f"{self.field} {self.old} → {self.new}"
        return f"{text} ({self.note})" if self.note else text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "old": self.old, "new": self.new}
        if self.secret:
            out["secret"] = True
        if self.note:
            out["note"] = self.note
        return out


ChangeKind = Literal["added", "removed", "changed", "moved", "renamed"]


@dataclass(frozen=True)
class Change:
    section: Section
    kind: ChangeKind
    subject: str  # e.g. 'route.routes[2] {team="db"} → db-pager' or 'receiver "db-pager"'
    fields: tuple[FieldChange, ...] = ()
    detail: str = ""  # words that are not a field: "with 2 child routes", "moved from position 2 to 0"
    path: str | None = None  # where in the new file (None for a removal)
    old_path: str | None = None  # where in the old file (None for an addition)

    def words(self) -> str:
        parts = [self.kind] if self.kind in ("added", "removed", "renamed") else []
        if self.detail:
            parts.append(self.detail)
        head = f"{self.subject}: " if parts or self.fields else self.subject
        body = ", ".join(parts)
        if self.fields:
            body = (body + "; " if body else "") + "; ".join(f.words() for f in self.fields)
        return head + body

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "kind": self.kind, "subject": self.subject, "path": self.path,
                "old_path": self.old_path, "detail": self.detail, "fields": [f.to_json() for f in self.fields]}


@dataclass
class ConfigDiff:
    old_source: str
    new_source: str
    changes: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def of(self, section: Section) -> list[Change]:
        return [c for c in self.changes if c.section == section]

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for change in self.changes:
            counts = out.setdefault(change.section, {})
            counts[change.kind] = counts.get(change.kind, 0) + 1
        return out

    def words(self) -> str:
        """The diff as text: a heading per section with one line per change ("no changes" when none)."""
        if not self.changes:
            return f"no changes between {self.old_source} and {self.new_source} (effective configuration)\n"
        lines = [f"{self.old_source} → {self.new_source}:"]
        for section in SECTIONS:
            changes = self.of(section)
            if changes:
                lines.append(f"{SECTION_TITLES[section]}:")
                lines.extend(f"  {_MARK[c.kind]} {c.words()}" for c in changes)
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old_source, "new": self.new_source, "changed": bool(self.changes),
                "summary": self.summary(), "changes": [c.to_json() for c in self.changes]}


_MARK = {"added": "+", "removed": "-", "changed": "~", "moved": "↕", "renamed": "~"}


def diff_configs(old: AlertmanagerConfig, new: AlertmanagerConfig) -> ConfigDiff:
    """Every difference between two loaded configurations, section by section."""
    diff = ConfigDiff(old.source, new.source)
    diff.changes.extend(_global_changes(old, new))
    diff.changes.extend(_template_changes(old, new))
    diff.changes.extend(_time_interval_changes(old, new))
    diff.changes.extend(_receiver_changes(old, new))
    diff.changes.extend(route_changes(old.routing_tree(), new.routing_tree()))
    diff.changes.extend(_inhibit_rule_changes(old.inhibit_rules, new.inhibit_rules))
    return diff


# --- values, flattened with their secrecy ---------------------------------------------------------------

@dataclass(frozen=True)
class _Leaf:
    value: Any  # the real value: compared, never shown when secret
    secret: bool = False
    shown_as: Any = None  # what to show instead of the value (a masked URL)

    def shown(self) -> str:
        if self.secret:
            return SECRET_SHOWN
        return _display(self.value if self.shown_as is None else self.shown_as)


def _display(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def mask_url(text: str) -> str:
    """A URL with its password, query string and fragment replaced by ``<secret>``."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return SECRET_SHOWN
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{SECRET_SHOWN}@{host}" if ":" in userinfo else f"{SECRET_SHOWN}@{host}"
    query = SECRET_SHOWN if parts.query else ""
    fragment = SECRET_SHOWN if parts.fragment else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment))


def flatten(spec: Any, value: Any, owner: str) -> dict[str, _Leaf]:
    """``value`` (as loaded by ``spec``) as ``dotted.path -> leaf``: objects and string maps are opened
    up, lists of objects indexed, other lists and free-form maps kept whole. ``owner`` is the integration
    list (``slack_configs``) or ``global``: it decides which top-level URLs are secret."""
    out: dict[str, _Leaf] = {}
    _flatten_into(out, spec, value, owner, "")
    return out


def _flatten_into(out: dict[str, _Leaf], spec: Any, value: Any, owner: str, path: str) -> None:
    def sub(key: str | int) -> str:
        if isinstance(key, int):
            return f"{path}[{key}]"
        return f"{path}.{key}" if path else key

    if value is None:
        return
    if isinstance(spec, Obj) and isinstance(value, Mapping):
        for key in sorted(value):
            _flatten_into(out, spec.fields.get(key), value[key], owner, sub(key))
    elif isinstance(spec, ListOf) and isinstance(spec.item, Obj) and isinstance(value, list):
        for index, item in enumerate(value):
            _flatten_into(out, spec.item, item, owner, sub(index))
    elif spec is HEADER_MAP and isinstance(value, Mapping):  # map[string][]Secret
        for key in sorted(value):
            out[sub(key)] = _Leaf(value[key], secret=True)
    elif spec is STR_MAP and isinstance(value, Mapping):
        for key in sorted(value):
            out[sub(key)] = _Leaf(value[key])
    elif spec is SECRET or (owner, path) in SECRET_URL_FIELDS:
        out[path] = _Leaf(value, secret=True)
    elif spec in (URL, ANY_URL) and isinstance(value, str) and mask_url(value) != value:
        out[path] = _Leaf(value, shown_as=mask_url(value))
    else:
        out[path] = _Leaf(value)


def _leaf_changes(old: Mapping[str, _Leaf], new: Mapping[str, _Leaf], prefix: str = "") -> list[FieldChange]:
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is not None and b is not None and a.value == b.value:
            continue
        secret = (a is not None and a.secret) or (b is not None and b.secret)
        if secret:
            changes.append(FieldChange(prefix + key, None if a is None else SECRET_SHOWN,
                                       None if b is None else SECRET_SHOWN, secret=True))
            continue
        old_shown = None if a is None else a.shown()
        new_shown = None if b is None else b.shown()
        if old_shown == new_shown:  # differs only in a masked part (a password or query string)
            changes.append(FieldChange(prefix + key, old_shown, new_shown,
                                       note=f"its {SECRET_SHOWN} part changed"))
        else:
            changes.append(FieldChange(prefix + key, old_shown, new_shown))
    return changes


# --- global, templates, time intervals -------------------------------------------------------------------

def _global_changes(old: AlertmanagerConfig, new: AlertmanagerConfig) -> list[Change]:
    fields = []
    if old.global_config.resolve_timeout != new.global_config.resolve_timeout:
        fields.append(FieldChange("resolve_timeout", format_duration(old.global_config.resolve_timeout),
                                  format_duration(new.global_config.resolve_timeout)))
    fields.extend(_leaf_changes(flatten(GLOBAL, dict(old.global_config.values), "global"),
                                flatten(GLOBAL, dict(new.global_config.values), "global")))
    return [Change("global", "changed", "global", tuple(fields), path="global", old_path="global")] if fields else []


def _relative_template(config: AlertmanagerConfig, pattern: str) -> str:
    """A template pattern relative to its configuration file's directory when it lies below it (the
    loader joined it to that directory), so the same pattern in two directories compares equal."""
    base = os.path.dirname(os.path.abspath(config.source))
    absolute = os.path.abspath(pattern)
    if os.path.commonpath([base, absolute]) == base:
        return os.path.relpath(absolute, base)
    return pattern


def _template_files(config: AlertmanagerConfig) -> dict[str, str]:
    """Relative file name -> sha256 of its contents, for the files the template patterns match."""
    base = os.path.dirname(os.path.abspath(config.source))
    out: dict[str, str] = {}
    for pattern in config.templates:
        for name in sorted(glob.glob(pattern))[:MAX_TEMPLATE_FILES]:
            if len(out) >= MAX_TEMPLATE_FILES or not os.path.isfile(name):
                continue
            digest = hashlib.sha256()
            try:
                with open(name, "rb") as handle:
                    digest.update(handle.read(MAX_TEMPLATE_BYTES))
            except OSError as exc:
                digest.update(f"unreadable: {exc}".encode())
            shown = os.path.relpath(name, base) if os.path.commonpath([base, os.path.abspath(name)]) == base else name
            out[shown] = digest.hexdigest()
    return out


def _template_changes(old: AlertmanagerConfig, new: AlertmanagerConfig) -> list[Change]:
    changes = []
    old_patterns = [_relative_template(old, p) for p in old.templates]
    new_patterns = [_relative_template(new, p) for p in new.templates]
    for pattern in old_patterns:
        if pattern not in new_patterns:
            changes.append(Change("templates", "removed", f"template pattern {_display(pattern)}"))
    for pattern in new_patterns:
        if pattern not in old_patterns:
            changes.append(Change("templates", "added", f"template pattern {_display(pattern)}"))
    old_files, new_files = _template_files(old), _template_files(new)
    for name in sorted(set(old_files) | set(new_files)):
        if name not in new_files:
            changes.append(Change("templates", "removed", f"template file {_display(name)}"))
        elif name not in old_files:
            changes.append(Change("templates", "added", f"template file {_display(name)}"))
        elif old_files[name] != new_files[name]:
            changes.append(Change("templates", "changed", f"template file {_display(name)}", detail="contents changed"))
    return changes


def _interval_text(interval: Any) -> str:
    return _display([spec.to_yaml() for spec in interval.time_intervals])


def _time_interval_changes(old: AlertmanagerConfig, new: AlertmanagerConfig) -> list[Change]:
    changes = []
    for name in sorted(set(old.time_intervals) | set(new.time_intervals)):
        a, b = old.time_intervals.get(name), new.time_intervals.get(name)
        subject = f"time interval {_display(name)}"
        if b is None:
            changes.append(Change("time_intervals", "removed", subject, detail=_interval_text(a)))
        elif a is None:
            changes.append(Change("time_intervals", "added", subject, detail=_interval_text(b)))
        elif a.time_intervals != b.time_intervals:
            changes.append(Change("time_intervals", "changed", subject, (
                FieldChange("time_intervals", _interval_text(a), _interval_text(b)),)))
    return changes


# --- receivers --------------------------------------------------------------------------------------------

def integration_leaves(integration: Integration) -> dict[str, _Leaf]:
    return flatten(INTEGRATIONS[integration.list_key], dict(integration.config), integration.list_key)


def _integrations_of(receiver: Receiver) -> dict[str, dict[str, _Leaf]]:
    return {f"{i.list_key}[{i.index}]": integration_leaves(i) for i in receiver.integrations}


def _integration_summary(receiver: Receiver) -> str:
    counts: dict[str, int] = {}
    for integration in receiver.integrations:
        counts[integration.list_key] = counts.get(integration.list_key, 0) + 1
    if not counts:
        return "no integrations"
    return ", ".join(f"{key} ×{count}" for key, count in counts.items())


def _same_integrations(a: Receiver, b: Receiver) -> bool:
    left, right = _integrations_of(a), _integrations_of(b)
    return left.keys() == right.keys() and all(
        {k: v.value for k, v in left[key].items()} == {k: v.value for k, v in right[key].items()} for key in left)


def _receiver_changes(old: AlertmanagerConfig, new: AlertmanagerConfig) -> list[Change]:
    old_by_name = {r.name: r for r in old.receivers}
    new_by_name = {r.name: r for r in new.receivers}
    removed = [r for r in old.receivers if r.name not in new_by_name]
    added = [r for r in new.receivers if r.name not in old_by_name]
    changes: list[Change] = []
    renamed_from: dict[str, Receiver] = {}
    for receiver in added:
        twin = next((r for r in removed if r.name not in renamed_from.values() and _same_integrations(r, receiver)
                     and r.integrations), None)
        if twin is not None:
            renamed_from[receiver.name] = twin
            removed.remove(twin)
    for receiver in removed:
        changes.append(Change("receivers", "removed", f"receiver {_display(receiver.name)}",
                              detail=_integration_summary(receiver)))
    for receiver in new.receivers:
        subject = f"receiver {_display(receiver.name)}"
        if receiver.name in renamed_from:
            changes.append(Change("receivers", "renamed", subject,
                                  detail=f"was {_display(renamed_from[receiver.name].name)}, same integrations"))
        elif receiver.name not in old_by_name:
            changes.append(Change("receivers", "added", subject, detail=_integration_summary(receiver)))
        else:
            fields = _integration_changes(old_by_name[receiver.name], receiver)
            if fields:
                changes.append(Change("receivers", "changed", subject, tuple(fields)))
    return changes


def _integration_changes(old: Receiver, new: Receiver) -> list[FieldChange]:
    left, right = _integrations_of(old), _integrations_of(new)
    fields: list[FieldChange] = []
    for key in [*left, *(k for k in right if k not in left)]:
        if key not in right:
            fields.append(FieldChange(key, None, None, note="removed"))
        elif key not in left:
            fields.append(FieldChange(key, None, None, note="added"))
        else:
            fields.extend(_leaf_changes(left[key], right[key], prefix=f"{key}."))
    return fields


# --- routes ----------------------------------------------------------------------------------------------

_INHERITED_FIELDS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval")
_ROUTE_FIELDS = (*_INHERITED_FIELDS, "continue", "mute_time_intervals", "active_time_intervals")


def _route_value(route: Route, name: str) -> str:
    opts = route.opts
    if name == "receiver":
        return opts.receiver
    if name == "group_by":
        return "[...]" if opts.group_by_all else "[" + ", ".join(sorted(opts.group_by)) + "]"
    if name in ("group_wait", "group_interval", "repeat_interval"):
        value: timedelta = getattr(opts, name)
        return format_duration(value)
    if name == "continue":
        return "true" if opts.continue_ else "false"
    return "[" + ", ".join(getattr(opts, name)) + "]"


def _sets_itself(route: Route, name: str) -> bool:
    """Whether the node writes ``name`` itself (an unset inheritable option comes from its parent)."""
    config = route.config
    if config is None or route.parent is None:
        return True
    if name == "receiver":
        return bool(config.receiver)
    if name == "group_by":
        return config.group_by is not None or config.group_by_all
    if name in ("group_wait", "group_interval", "repeat_interval"):
        return getattr(config, name) is not None
    return True


def _position(route: Route) -> int:
    assert route.parent is not None
    return next(i for i, sibling in enumerate(route.parent.routes) if sibling is route)


def route_subject(route: Route) -> str:
    return f"{route_path(route)} {route_name(route)}" if route.parent is not None else route_name(route)


def route_changes(old_root: Route, new_root: Route) -> list[Change]:
    """The route tree's changes: moved, changed, added and removed routes, in the new tree's order
    (removals where the removed route was)."""
    matching = match_routes(old_root, new_root)

    def inherits_same_change(pair: RoutePair, name: str) -> RoutePair | None:
        """The parent pair when ``pair`` leaves ``name`` unset on both sides under a matched parent:
        its effective value is then the parent's on both sides, and so is the change."""
        if pair.relocated or pair.old.parent is None or pair.new.parent is None:
            return None
        if _sets_itself(pair.old, name) or _sets_itself(pair.new, name):
            return None
        parent = matching.pair_of_new(pair.new.parent)
        return parent if parent is not None and parent.old is pair.old.parent else None

    # Field changes per pair; a change a route only inherits is counted on the route it comes from.
    pair_fields: dict[int, list[tuple[str, str, str, bool]]] = {}
    inheritors: dict[tuple[int, str], int] = {}
    for pair in matching.pairs:
        found = []
        for name in _ROUTE_FIELDS:
            a, b = _route_value(pair.old, name), _route_value(pair.new, name)
            if a == b:
                continue
            source = pair
            while name in _INHERITED_FIELDS and (up := inherits_same_change(source, name)) is not None:
                source = up
            if source is not pair:
                inheritors[(id(source.new), name)] = inheritors.get((id(source.new), name), 0) + 1
                continue
            found.append((name, a, b, name in _INHERITED_FIELDS and not _sets_itself(pair.new, name)))
        pair_fields[id(pair.new)] = found

    removed_by_parent: dict[int, list[Route]] = {}  # removed subtrees by the new node of their parent
    for route in matching.removed:
        parent = matching.new_of(route.parent) if route.parent is not None else None
        if parent is not None:
            removed_by_parent.setdefault(id(parent), []).append(route)

    def removed_change(route: Route) -> Change:
        return Change("routes", "removed", route_subject(route), detail=_child_count(route),
                      old_path=route_path(route))

    def pair_change(pair: RoutePair) -> Change | None:
        fields = []
        for name, a, b, inherited in pair_fields[id(pair.new)]:
            notes = ["inherited"] if inherited else []
            count = inheritors.get((id(pair.new), name), 0)
            if count:
                notes.append(f"in effect for {count} route{'s that inherit' if count != 1 else ' that inherits'} it")
            fields.append(FieldChange(name, a, b, note=", ".join(notes)))
        old_path, new_path = route_path(pair.old), route_path(pair.new)
        parent_pair = matching.pair_of_old(pair.old.parent) if pair.old.parent is not None else None
        detail = ""
        if pair.relocated and not (parent_pair is not None and parent_pair.relocated):
            detail = f"moved from {old_path} to {new_path}; its route key changes, so its aggregation groups start anew"
        elif pair.moved:
            detail = f"moved from position {_position(pair.old)} to {_position(pair.new)} among its siblings (was {old_path})"
        elif old_path != new_path and fields:
            detail = f"was {old_path}"
        if not fields and not detail.startswith("moved"):
            return None
        return Change("routes", "changed" if fields else "moved", route_subject(pair.new), tuple(fields), detail,
                      path=new_path, old_path=old_path)

    changes: list[Change] = []

    def visit(node: Route) -> None:
        pair = matching.pair_of_new(node)
        if pair is None:  # an added subtree, reported once at its top
            changes.append(Change("routes", "added", route_subject(node), detail=_child_count(node),
                                  path=route_path(node)))
            return
        change = pair_change(pair)
        if change is not None:
            changes.append(change)
        # Removed children are listed where they were: before the first remaining child that followed them.
        gone = sorted(removed_by_parent.pop(id(node), []), key=_position)
        for child in node.routes:
            counterpart = matching.old_of(child)
            if counterpart is not None and counterpart.parent is pair.old:
                while gone and _position(gone[0]) < _position(counterpart):
                    changes.append(removed_change(gone.pop(0)))
            visit(child)
        changes.extend(removed_change(route) for route in gone)

    visit(new_root)
    return changes


def _child_count(route: Route) -> str:
    below = sum(1 for _ in descendants(route))
    return f"with {below} child route{'s' if below != 1 else ''}" if below else ""


# --- inhibit rules -----------------------------------------------------------------------------------------

def _rule_key(rule: InhibitRule) -> tuple[str, str, tuple[str, ...]]:
    return (str(rule.source_matchers), str(rule.target_matchers), tuple(sorted(set(rule.equal))))


def inhibit_rule_name(rule: InhibitRule) -> str:
    """``{severity="critical"} mutes {severity="warning"} with equal [service]``."""
    equal = f" with equal [{', '.join(rule.equal)}]" if rule.equal else ""
    return f"{rule.source_matchers} mutes {rule.target_matchers}{equal}"


def _inhibit_rule_changes(old: Iterable[InhibitRule], new: Iterable[InhibitRule]) -> list[Change]:
    old_left = list(enumerate(old))
    new_left = list(enumerate(new))
    # Identical rules first (order is irrelevant), then rules whose matchers agree but `equal` changed.
    for i, rule in list(old_left):
        twin = next(((j, r) for j, r in new_left if _rule_key(r) == _rule_key(rule)), None)
        if twin is not None:
            old_left.remove((i, rule))
            new_left.remove(twin)
    changes: list[Change] = []
    for i, rule in list(old_left):
        twin = next(((j, r) for j, r in new_left if _rule_key(r)[:2] == _rule_key(rule)[:2]), None)
        if twin is not None:
            old_left.remove((i, rule))
            new_left.remove(twin)
            j, other = twin
            changes.append(Change("inhibit_rules", "changed", f"inhibit_rules[{j}] {inhibit_rule_name(other)}", (
                FieldChange("equal", "[" + ", ".join(rule.equal) + "]", "[" + ", ".join(other.equal) + "]"),),
                path=f"inhibit_rules[{j}]", old_path=f"inhibit_rules[{i}]"))
    for i, rule in old_left:
        changes.append(Change("inhibit_rules", "removed", f"inhibit_rules[{i}] {inhibit_rule_name(rule)}",
                              old_path=f"inhibit_rules[{i}]"))
    for j, rule in new_left:
        changes.append(Change("inhibit_rules", "added", f"inhibit_rules[{j}] {inhibit_rule_name(rule)}",
                              path=f"inhibit_rules[{j}]"))
    return changes


def load_and_diff(old_path: str | os.PathLike[str], new_path: str | os.PathLike[str]) -> ConfigDiff:
    """Load both files with :func:`pipeline.amconfig.load_config` (ConfigError on a bad one) and diff them."""
    from pipeline.amconfig.loader import load_config

    return diff_configs(load_config(Path(old_path)), load_config(Path(new_path)))
