"""Typed reading of composed YAML nodes, keeping the key path and line of everything read.

The file is composed (``yaml.compose``), never constructed, so every value keeps its position and
duplicate keys are seen (PyYAML would silently keep the last; Go's yaml.v2 in strict mode refuses).
Scalars follow yaml.v2 decoding into Go types: any scalar decodes into a string field as its text
(``receiver: 123`` is the name ``"123"``), ``null`` leaves the field unset, bools are YAML 1.1 bools.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from pipeline.amconfig.errors import ConfigError

NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"

# yaml.v2 (YAML 1.1) booleans; PyYAML lacks y/Y/n/N.
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}


@dataclass(frozen=True)
class At:
    """A node with the key path that led to it."""

    node: yaml.Node
    path: str

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def error(self, reason: str) -> ConfigError:
        return ConfigError(reason, path=self.path, line=self.line)

    @property
    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == NULL_TAG

    def child(self, node: yaml.Node, key: str | int) -> At:
        if isinstance(key, int):
            return At(node, f"{self.path}[{key}]")
        return At(node, f"{self.path}.{key}" if self.path else key)

    # -- scalars
    def _kind(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "!!map"
        if isinstance(self.node, yaml.SequenceNode):
            return "!!seq"
        return "!!" + self.node.tag.rsplit(":", 1)[-1]

    def type_error(self, go_type: str) -> ConfigError:
        value = f" `{self.node.value}`" if isinstance(self.node, yaml.ScalarNode) else ""
        return self.error(f"cannot unmarshal {self._kind()}{value} into {go_type}")

    def string(self) -> str | None:
        """A Go string field: the text of any scalar; ``None`` for null."""
        if self.is_null:
            return None
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.type_error("string")
        if self.node.tag == "tag:yaml.org,2002:binary":
            raise self.type_error("string")
        return str(self.node.value)

    def boolean(self) -> bool | None:
        if self.is_null:
            return None
        node = self.node
        if isinstance(node, yaml.ScalarNode) and (node.tag == BOOL_TAG or node.style is None):
            if node.value in _TRUE:
                return True
            if node.value in _FALSE:
                return False
        raise self.type_error("bool")

    def integer(self, go_type: str = "int", *, minimum: int | None = None) -> int | None:
        if self.is_null:
            return None
        node = self.node
        if isinstance(node, yaml.ScalarNode) and node.tag in (INT_TAG, FLOAT_TAG):
            if node.tag == INT_TAG:
                value = int(SafeConstructor().construct_yaml_int(node))
            else:  # yaml.v2 stores a float that fits into an integer field, truncated
                number = SafeConstructor().construct_yaml_float(node)
                if number != number or number in (float("inf"), float("-inf")) or (minimum is not None and number < 0):
                    raise self.type_error(go_type)
                value = int(number)
            if minimum is not None and value < minimum:
                raise self.type_error(go_type)
            if value >= (1 << 64 if go_type == "uint64" else 1 << 63) or value < -(1 << 63):
                raise self.type_error(go_type)
            return value
        raise self.type_error(go_type)

    # -- collections
    def sequence(self) -> list[At]:
        """Items of a sequence (``null`` is the empty sequence)."""
        if self.is_null:
            return []
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.type_error("[]")
        return [self.child(item, i) for i, item in enumerate(self.node.value)]

    def string_list(self) -> list[str]:
        out = []
        for item in self.sequence():
            value = item.string()
            out.append("" if value is None else value)
        return out

    def mapping(self, go_type: str = "map") -> list[tuple[str, At, At]]:
        """``(key, key node, value node)`` for each entry, merge keys applied, duplicates refused."""
        if self.is_null:
            return []
        if not isinstance(self.node, yaml.MappingNode):
            raise self.type_error(go_type)
        node = self.node
        pairs = _flatten_merges(node, self)
        seen: dict[str, int] = {}
        out = []
        for key_node, value_node in pairs:
            key_at = At(key_node, self.path)
            if not isinstance(key_node, yaml.ScalarNode):
                raise key_at.error("mapping keys must be scalars")
            key = "" if key_node.tag == NULL_TAG else str(key_node.value)
            if key in seen:
                raise key_at.error(f'key "{key}" already set in map' if go_type == "map" else f"field {key} already set in type {go_type}")
            seen[key] = key_at.line
            out.append((key, key_at, self.child(value_node, key)))
        return out

    def fields(self, known: set[str] | frozenset[str] | dict[str, Any], go_type: str) -> dict[str, At]:
        """A struct: every key must be a known field (yaml.v2 UnmarshalStrict); returns field -> value."""
        out: dict[str, At] = {}
        for key, key_at, value in self.mapping(go_type):
            if key not in known:
                raise ConfigError(f"field {key} not found in type {go_type}", path=value.path, line=key_at.line)
            out[key] = value
        return out

    def string_map(self, *, validate_key: Callable[[str, At], None] | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, key_at, value in self.mapping("map"):
            if validate_key is not None:
                validate_key(key, At(key_at.node, value.path))
            text = value.string()
            out[key] = "" if text is None else text
        return out

    def plain(self) -> Any:
        """The value as plain Python data (for free-form maps)."""
        try:
            constructor = SafeConstructor()
            return constructor.construct_object(self.node, deep=True)
        except ConstructorError as exc:
            raise self.error(str(exc)) from None


def _flatten_merges(node: yaml.MappingNode, at: At) -> list[tuple[yaml.Node, yaml.Node]]:
    """The entries of a mapping with ``<<`` merge keys expanded (explicit keys win), as yaml.v2 does."""
    own: list[tuple[yaml.Node, yaml.Node]] = []
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise At(value_node, at.path).error("map merge requires map or sequence of maps as the value")
                for pair in _flatten_merges(source, at):
                    merged.append(pair)
        else:
            own.append((key_node, value_node))
    if not merged:
        return own
    own_keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
    result: list[tuple[yaml.Node, yaml.Node]] = []
    taken: set[str] = set()
    for key_node, value_node in merged:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key in own_keys or key in taken:
            continue
        taken.add(key)
        result.append((key_node, value_node))
    return result + own
