"""Relabeling of incoming alerts, in the spirit of Prometheus' relabel_configs. Pure.

Rules run in order over the alert's labels; each may be limited to alerts matching ``if`` (Alertmanager
matchers, evaluated against the labels as they are at that point). Actions:

- ``add``: set ``label`` to ``value`` when the label is missing (``overwrite: true`` always sets it),
- ``replace``: join ``source_labels`` with ``separator``, match the anchored Go ``regex`` and write
  ``replacement`` into ``target``, expanded as Go's ``Regexp.ExpandString`` does (``$1``, ``${1}``,
  ``$name``, ``${name}``; ``$$`` is a dollar; ``$1x`` names group ``1x``, so write ``${1}x``); a reference
  to a group the regex does not have is refused at load; no match, no change; an empty result removes
  the target (an empty label is no label in Alertmanager),
- ``drop_label``: remove ``labels`` (names) and every label whose name matches ``regex``,
- ``map``: replace the value of ``label`` found in ``values`` (e.g. crit → critical); others stay,
- ``copy``: copy ``source`` to ``target`` when the source is present (``overwrite: false`` keeps an
  existing target),
- ``keep``: drop the alert unless it matches ``match``; ``drop``: drop the alert when it matches.

Relabeling happens before normalization, so the fingerprint is computed over the relabeled labels:
alerts that differ only in a dropped label merge into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from pipeline.classification.matching import MatcherList
from pipeline.regex import GoRegexp, RegexError, compile_regexp

LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
LabelName = Annotated[str, Field(pattern=LABEL_NAME)]


def _compile_go(pattern: str, captures: bool = False) -> GoRegexp:
    """Anchored as Prometheus' relabel regexes are (``^(?:regex)$``, the text concatenated)."""
    try:
        return compile_regexp(pattern, anchored=True, captures=captures)
    except RegexError as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    when: MatcherList | None = Field(None, alias="if")

    def applies(self, labels: Mapping[str, str]) -> bool:
        return self.when is None or self.when.matches(labels)


class AddLabel(_Rule):
    action: Literal["add"]
    label: LabelName
    value: str = Field(min_length=1)
    overwrite: bool = False

    def apply(self, labels: dict[str, str]) -> None:
        if self.overwrite or not labels.get(self.label):
            labels[self.label] = self.value


class ReplaceLabel(_Rule):
    action: Literal["replace"]
    source_labels: tuple[LabelName, ...] = Field(min_length=1)
    separator: str = ";"
    regex: str = "(.*)"
    target: LabelName
    replacement: str = "$1"
    _compiled: GoRegexp = PrivateAttr()

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        _compile_go(value)
        return value

    @model_validator(mode="after")
    def _groups_exist(self) -> ReplaceLabel:
        compiled = _compile_go(self.regex, captures=True)
        for name in compiled.references(self.replacement):
            digits = len(name) - len(name.lstrip("0123456789"))
            hint = f" (a reference runs on over letters and digits: write ${{{name[:digits]}}}{name[digits:]})" \
                if 0 < digits < len(name) else ""
            raise ValueError(f"replacement {self.replacement!r} refers to ${{{name}}}, which the regex "
                             f"{self.regex!r} does not capture{hint}")
        self._compiled = compiled
        return self

    def apply(self, labels: dict[str, str]) -> None:
        joined = self.separator.join(labels.get(name, "") for name in self.source_labels)
        groups = self._compiled.submatches(joined)
        if groups is None:
            return
        value = self._compiled.expand(self.replacement, groups)
        if value:
            labels[self.target] = value
        else:
            labels.pop(self.target, None)


class DropLabel(_Rule):
    action: Literal["drop_label"]
    labels: tuple[LabelName, ...] = ()
    regex: str | None = None
    _compiled: GoRegexp | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _something_to_drop(self) -> DropLabel:
        if not self.labels and self.regex is None:
            raise ValueError("drop_label needs `labels` (names) or `regex` (names matching it)")
        self._compiled = _compile_go(self.regex) if self.regex is not None else None
        return self

    def apply(self, labels: dict[str, str]) -> None:
        for name in self.labels:
            labels.pop(name, None)
        compiled = self._compiled
        if compiled is not None:
            for name in [n for n in labels if compiled.matches(n)]:
                del labels[name]


class MapValues(_Rule):
    action: Literal["map"]
    label: LabelName
    values: dict[str, str] = Field(min_length=1)

    def apply(self, labels: dict[str, str]) -> None:
        current = labels.get(self.label)
        if current is None or current not in self.values:
            return
        if self.values[current]:
            labels[self.label] = self.values[current]
        else:
            del labels[self.label]


class CopyLabel(_Rule):
    action: Literal["copy"]
    source: LabelName
    target: LabelName
    overwrite: bool = True

    def apply(self, labels: dict[str, str]) -> None:
        value = labels.get(self.source)
        if value and (self.overwrite or not labels.get(self.target)):
            labels[self.target] = value


class KeepAlerts(_Rule):
    action: Literal["keep"]
    match: MatcherList

    def keeps(self, labels: Mapping[str, str]) -> bool:
        return self.match.matches(labels)


class DropAlerts(_Rule):
    action: Literal["drop"]
    match: MatcherList

    def keeps(self, labels: Mapping[str, str]) -> bool:
        return not self.match.matches(labels)


RelabelRule = Annotated[
    AddLabel | ReplaceLabel | DropLabel | MapValues | CopyLabel | KeepAlerts | DropAlerts,
    Field(discriminator="action"),
]


@dataclass(frozen=True)
class DroppedAlert:
    """A keep/drop rule decided the alert goes no further: counted, not dead-lettered."""

    rule_index: int
    action: str


def relabel(labels: Mapping[str, str], rules: tuple[RelabelRule, ...]) -> dict[str, str] | DroppedAlert:
    """The labels after every rule, or DroppedAlert naming the rule that dropped the alert."""
    out = dict(labels)
    for index, rule in enumerate(rules):
        if not rule.applies(out):
            continue
        if isinstance(rule, KeepAlerts | DropAlerts):
            if not rule.keeps(out):
                return DroppedAlert(index, rule.action)
            continue
        rule.apply(out)
    return out
