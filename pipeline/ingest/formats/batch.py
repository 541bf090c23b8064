"""The result of parsing one request body, and how parsers fill it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.ingest.errors import AlertProblem, InvalidAlert
from pipeline.ingest.normalize import fill_gaps, normalize
from pipeline.ingest.timestamps import unset_if_zero
from pipeline.models import RawAlert, replace


@dataclass(frozen=True)
class SourceStamp:
    """What a source adds to every alert it reads, before the rules of normalize run on it.

    ``labels``: added when the alert lacks the label (an empty value counts as lacking it), as
    Prometheus adds external_labels, so they are part of the fingerprint. ``valid_until`` (poll and
    watch sources, which see an alert's presence, not its end): every alert not resolved gets this end,
    or keeps its own when that is earlier, so an alert gone from the upstream resolves at it.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    valid_until: datetime | None = None

    def labels_for(self, labels: Mapping[str, str]) -> Mapping[str, str]:
        if not self.labels:
            return labels
        own = {name: value for name, value in labels.items() if value != ""}
        # An alert without labels of its own stays invalid: the source's labels identify no alert.
        return {**self.labels, **own} if own else labels

    def end_for(self, status: str | None, starts_at: datetime | None, ends_at: datetime | None) -> datetime | None:
        # An alert that starts after valid_until (a sender's clock ahead) keeps its own end: capping it
        # would end it before it starts, which normalize refuses.
        if self.valid_until is None or status == "resolved":
            return ends_at
        start = unset_if_zero(starts_at)
        if start is not None and start >= self.valid_until:
            return ends_at
        end = unset_if_zero(ends_at)
        return self.valid_until if end is None or end > self.valid_until else end

    def apply(self, raw: RawAlert) -> RawAlert:
        labels, ends_at = self.labels_for(raw.labels), self.end_for(raw.status, raw.starts_at, raw.ends_at)
        if labels is raw.labels and ends_at is raw.ends_at:
            return raw
        return replace(raw, labels=dict(labels), ends_at=ends_at)


@dataclass
class ParsedBatch:
    """Alerts that normalize accepts, gaps filled, and a problem for each one it does not."""

    alerts: list[RawAlert] = field(default_factory=list)
    problems: list[AlertProblem] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)  # each accepted alert's position in the request


class BatchBuilder:
    """Collects a parser's alerts, each run through normalize so the bridge and the stage agree."""

    def __init__(self, resolve_timeout: timedelta, stamp: SourceStamp | None = None) -> None:
        self.resolve_timeout = resolve_timeout
        self.stamp = stamp
        self.batch = ParsedBatch()

    def add(self, index: int, raw: RawAlert) -> None:
        if self.stamp is not None:
            raw = self.stamp.apply(raw)
        try:
            alert = normalize(raw, self.resolve_timeout)
        except InvalidAlert as exc:
            self.reject(index, str(exc))
            return
        self.batch.alerts.append(fill_gaps(raw, alert))
        self.batch.indices.append(index)

    def reject(self, index: int, reason: str) -> None:
        self.batch.problems.append(AlertProblem(index, reason))
