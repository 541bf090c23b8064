"""``GenericMapping``: how one source's JSON maps to alerts (the ``generic`` format's option).

Paths are JMESPath expressions (https://jmespath.org), which covers plain
dotted paths (``tags.service``), list indexes (``links[0].href``) and keys that
need quoting (``tags."service-name"``).  Every path is compiled when the
mapping is loaded, so a typo fails the configuration, not every request.

Example, for a Sentry-like body::

    alerts: "items"
    labels: {alertname: "title", service: "tags.service"}
    labels_from: "tags"
    annotations: {summary: "message", runbook_url: "links.runbook"}
    static_labels: {source_system: "sentry"}
    status: {path: "state", firing: ["alerting", "triggered"], resolved: ["ok", "resolved"]}
    starts_at: "started_at"
    generator_url: "url"
    severity: {path: "priority", map: {"1": "critical", "2": "warning"}, default: "warning"}
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Self

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from pipeline.ingest.validation import LABEL_NAME

SEVERITY_LABEL = "severity"


@lru_cache(maxsize=1024)
def compiled_path(expression: str) -> ParsedResult:
    """The compiled JMESPath ``expression``; raises ValueError on bad syntax."""
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(f"invalid JMESPath expression {expression!r}: {exc}") from None


def _check_path(expression: str) -> str:
    compiled_path(expression)
    return expression


def _check_label_name(name: str) -> str:
    if not LABEL_NAME.fullmatch(name):
        raise ValueError(f"invalid label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
    return name


def _check_label_value(value: str) -> str:
    # An empty value would be dropped from every alert (removeEmptyLabels); say so now.
    if value == "":
        raise ValueError("a static label needs a non-empty value")
    return value


Path = Annotated[str, AfterValidator(_check_path)]
LabelName = Annotated[str, AfterValidator(_check_label_name)]
StaticLabelValue = Annotated[str, AfterValidator(_check_label_value)]


class _Config(BaseModel):
    # Typos in a mapping must fail loudly, not map nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusMapping(_Config):
    """Which values at ``path`` mean firing and which resolved (compared as text: 1 matches "1").

    A missing value leaves the status unstated (Alertmanager API v2 timing);
    a value in neither list makes the alert invalid.
    """

    path: Path
    firing: list[str] = []
    resolved: list[str] = []

    @model_validator(mode="after")
    def _lists_are_usable(self) -> Self:
        if not self.firing and not self.resolved:
            raise ValueError("status needs at least one firing or resolved value")
        if both := sorted(set(self.firing) & set(self.resolved)):
            raise ValueError(f"status values both firing and resolved: {both}")
        return self


class SeverityMapping(_Config):
    """The ``severity`` label: the value at ``path`` translated by ``map``.

    A value not in ``map`` (or missing) gets ``default``; without a default an
    unmapped value is kept as it is and a missing one gives no label.
    """

    path: Path
    map: dict[str, str] = {}
    default: str | None = None


class GenericMapping(_Config):
    """Per-source mapping of any JSON body to alerts; see the module doc for an example.

    Label precedence, lowest first: ``labels_from``, ``labels``, ``severity``,
    ``static_labels`` (clashes among the last three are refused at load).
    Annotations: ``annotations_from`` then ``annotations``.  A path that finds
    nothing (or null) gives no label, which is not an error by itself.
    ``starts_at`` / ``ends_at`` take RFC 3339 strings or Unix numbers in s, ms,
    µs or ns told apart by size (pipeline.ingest.timestamps.from_unix_number),
    0 meaning unset.
    """

    alerts: Path | None = None
    labels: dict[LabelName, Path] = {}
    labels_from: Path | None = None
    annotations: dict[LabelName, Path] = {}
    annotations_from: Path | None = None
    static_labels: dict[LabelName, StaticLabelValue] = {}
    status: StatusMapping | None = None
    starts_at: Path | None = None
    ends_at: Path | None = None
    generator_url: Path | None = None
    severity: SeverityMapping | None = None

    @model_validator(mode="after")
    def _no_label_set_twice(self) -> Self:
        if clash := sorted(self.labels.keys() & self.static_labels.keys()):
            raise ValueError(f"labels and static_labels both set {clash}")
        if self.severity is not None:
            for field in ("labels", "static_labels"):
                if SEVERITY_LABEL in getattr(self, field):
                    raise ValueError(f"{field} sets {SEVERITY_LABEL!r}, which severity also sets")
        return self


def search(expression: str, data: Any) -> Any:
    """The value at ``expression`` in ``data``, None when absent; ValueError when it fails."""
    try:
        return compiled_path(expression).search(data)
    except (JMESPathError, TypeError, ValueError, RecursionError) as exc:
        # Functions such as max() or sort_by() fail on data of the wrong types.
        raise ValueError(f"path {expression!r} failed: {exc}") from None
