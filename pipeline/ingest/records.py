"""The bridge's fast path: alert objects of a request → raw-alert record bytes, in one step.

The model path (``parse`` → RawAlert → ``normalize`` → ``fill_gaps`` → ``pipeline.wire.encode``) builds
an Alert and two RawAlerts per alert.  Here the same readers (pipeline.ingest.formats.fields) and the
same rules (pipeline.ingest.normalize.normalize_fields) work on plain values, and the one RawAlert
that ``fill_gaps`` would give is built straight from them and encoded by ``pipeline.wire.encode``: the
same bytes as ``wire.encode(fill_gaps(raw, normalize(raw, t)))`` (tests/unit/ingest/test_records.py
proves it with hypothesis, byte for byte, valid or not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline import wire
from pipeline.ingest.errors import AlertProblem
from pipeline.ingest.normalize import Normalized
from pipeline.models import RawAlert


def raw_alert_json(
    alert: Normalized,
    annotations: dict[str, str],
    status: str | None,
    source: str,
    source_format: str,
    received_at: datetime,
) -> bytes:
    """The RawAlert record value of a normalized alert: ``fill_gaps`` + ``wire.encode`` in one step.

    An end that normalize made up from the resolve timeout is left out, as fill_gaps does.
    """
    timing = alert.timing
    return wire.encode(RawAlert(
        labels=alert.labels,
        annotations=annotations,
        starts_at=timing.starts_at,
        ends_at=None if timing.timeout else timing.ends_at,
        generator_url=alert.generator_url,
        status=status,
        fingerprint=alert.fingerprint,
        source=source,
        source_format=source_format,
        received_at=received_at,
    ))


@dataclass
class RecordBatch:
    """The records of a request's valid alerts (key = fingerprint, value = RawAlert JSON), and a
    problem for each invalid one, in the sender's order."""

    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    problems: list[AlertProblem] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many alerts the request held."""
        return len(self.values) + len(self.problems)
