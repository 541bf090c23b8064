"""Rule-based classification: matchers → priority, category, team, tags, auto_incident. Pure.

Order of precedence, lowest first, field by field:

1. defaults of the file (``defaults``),
2. what the sender already said: a valid ``priority`` label (P0–P4) and the ``team``/``category`` labels
   (names configurable), so a pre-classified alert keeps its classification unless a rule says otherwise,
3. the severity mapping (``severity_priorities``) for the priority, when the alert has no priority label,
4. the first matching rule; a rule with ``continue: true`` lets later matching rules fill the fields
   it left unset (never overwrite them), like Alertmanager's ``continue``.

The results go back into the labels under the configured names, so Alertmanager routes can match
``priority="P1"``. The alert keeps its fingerprint: it is the dedup identity computed upstream over the
sender's labels, and every later stage (silences, inhibition, groups, the state topic) keys on it. Labels
we add are derived from the others, so they never split or merge alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.classification.matching import MatcherList
from pipeline.models import Classification, Priority

PRIORITIES: tuple[str, ...] = get_args(Priority)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputLabels(_Config):
    """Label names the results are written under; null disables writing that one."""

    priority: str | None = "priority"
    category: str | None = "category"
    team: str | None = "team"
    auto_incident: str | None = None


class ClassificationDefaults(_Config):
    priority: Priority = "P3"
    category: str = "uncategorized"
    team: str = ""
    auto_incident_priorities: tuple[Priority, ...] = ("P0", "P1")


def _default_severity_priorities() -> dict[str, Priority]:
    # Alertmanager's common severities; "page" is the strongest (wake someone up now).
    return {"page": "P0", "critical": "P1", "error": "P2", "warning": "P2", "info": "P4", "none": "P4"}


class ClassificationRule(_Config):
    name: str = Field(min_length=1)
    match: MatcherList
    priority: Priority | None = None
    category: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()
    auto_incident: bool | None = None
    continue_: bool = Field(False, alias="continue")


class ClassificationConfig(_Config):
    severity_label: str = "severity"
    severity_priorities: dict[str, Priority] = Field(default_factory=_default_severity_priorities)
    labels: OutputLabels = OutputLabels()
    defaults: ClassificationDefaults = ClassificationDefaults()
    rules: tuple[ClassificationRule, ...] = ()

    @field_validator("severity_priorities")
    @classmethod
    def _lower_case_keys(cls, value: dict[str, Priority]) -> dict[str, Priority]:
        # Senders disagree on case (Critical, CRITICAL); matching is case-insensitive.
        return {k.lower(): v for k, v in value.items()}

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[ClassificationRule, ...]) -> tuple[ClassificationRule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice; names identify rules in reasons")
            seen.add(rule.name)
        return rules


@dataclass(frozen=True)
class RuleResult:
    classification: Classification
    labels: dict[str, str]            # the alert's labels with the results written in
    matched_rules: tuple[str, ...] = field(default=())
    priority_by_rule: bool = False     # a rule decided the priority (not labels, severity or defaults)
    auto_incident_by_rule: bool = False


def classify_by_rules(labels: Mapping[str, str], config: ClassificationConfig) -> RuleResult:
    """The rule-based classification of an alert's labels, and the labels with the results added."""
    names = config.labels
    defaults = config.defaults
    priority: str | None = None
    category: str | None = None
    team: str | None = None
    auto_incident: bool | None = None
    tags: list[str] = []
    matched: list[str] = []

    for rule in config.rules:
        if not rule.match.matches(labels):
            continue
        matched.append(rule.name)
        priority = priority or rule.priority
        category = category or rule.category
        team = team or rule.team
        auto_incident = auto_incident if auto_incident is not None else rule.auto_incident
        tags.extend(t for t in rule.tags if t not in tags)
        if not rule.continue_:
            break

    reason: str
    priority_by_rule = priority is not None
    if priority is not None:
        reason = f"rule {matched[0]}" if len(matched) == 1 else f"rules {', '.join(matched)}"
    else:
        priority, reason = _priority_from_labels(labels, config)
        if matched:
            reason = f"rules {', '.join(matched)}; {reason}"
    category = category or _label(labels, names.category) or defaults.category
    team = team or _label(labels, names.team) or defaults.team
    auto_incident_by_rule = auto_incident is not None
    if auto_incident is None:
        auto_incident = priority in defaults.auto_incident_priorities

    classification = Classification(
        priority=priority, category=category, team=team, tags=tags, auto_incident=auto_incident,
        classified_by="rules", reason=reason,
    )
    return RuleResult(classification, write_labels(labels, classification, names), tuple(matched),
                      priority_by_rule, auto_incident_by_rule)


def _priority_from_labels(labels: Mapping[str, str], config: ClassificationConfig) -> tuple[str, str]:
    existing = _label(labels, config.labels.priority)
    if existing in PRIORITIES:
        return existing, f"label {config.labels.priority}={existing}"
    severity = labels.get(config.severity_label, "")
    mapped = config.severity_priorities.get(severity.lower())
    if mapped is not None:
        return mapped, f"{config.severity_label}={severity}"
    shown = f"{config.severity_label}={severity}" if severity else f"no {config.severity_label} label"
    return config.defaults.priority, f"default ({shown})"


def _label(labels: Mapping[str, str], name: str | None) -> str:
    return labels.get(name, "") if name else ""


def write_labels(labels: Mapping[str, str], classification: Classification, names: OutputLabels) -> dict[str, str]:
    """The labels with the classification written under the configured names (empty values omitted,
    as Alertmanager treats an empty label as absent)."""
    out = dict(labels)
    values: dict[str | None, str] = {
        names.priority: classification.priority,
        names.category: classification.category,
        names.team: classification.team,
        names.auto_incident: "true" if classification.auto_incident else "false",
    }
    for name, value in values.items():
        if name is None:
            continue
        if value:
            out[name] = value
        else:
            out.pop(name, None)
    return out

