"""The result of parsing one request body, and how parsers fill it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from pipeline.ingest.errors import AlertProblem, InvalidAlert
from pipeline.ingest.normalize import fill_gaps, normalize
from pipeline.models import RawAlert


@dataclass
class ParsedBatch:
    """Alerts that normalize accepts, gaps filled, and a problem for each one it does not."""

    alerts: list[RawAlert] = field(default_factory=list)
    problems: list[AlertProblem] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)  # each accepted alert's position in the request


class BatchBuilder:
    """Collects a parser's alerts, each run through normalize so the bridge and the stage agree."""

    def __init__(self, resolve_timeout: timedelta) -> None:
        self.resolve_timeout = resolve_timeout
        self.batch = ParsedBatch()

    def add(self, index: int, raw: RawAlert) -> None:
        try:
            alert = normalize(raw, self.resolve_timeout)
        except InvalidAlert as exc:
            self.reject(index, str(exc))
            return
        self.batch.alerts.append(fill_gaps(raw, alert))
        self.batch.indices.append(index)

    def reject(self, index: int, reason: str) -> None:
        self.batch.problems.append(AlertProblem(index, reason))
