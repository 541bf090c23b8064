"""The bridge's fast path: alert objects of a request → raw-alert record bytes, without pydantic models.

The model path (``parse`` → RawAlert → ``normalize`` → ``fill_gaps`` → ``pipeline.wire.encode``) builds
three models per alert and serializes one: about as much CPU as reading and validating the alert. Here the
same readers (pipeline.ingest.formats.fields) and the same rules (pipeline.ingest.normalize.normalize_fields)
work on plain values, and orjson writes the RawAlert JSON object directly: the same bytes as
``wire.encode(fill_gaps(raw, normalize(raw, t)))``, field for field in the model's order
(tests/unit/ingest/test_records.py proves it with hypothesis, byte for byte, valid or not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from pipeline.ingest.errors import AlertProblem
from pipeline.ingest.normalize import Normalized

_OPTIONS = orjson.OPT_UTC_Z


def wire_time(value: datetime | None) -> datetime | str | None:
    """A UTC datetime as pydantic.wire writes it (pipeline.models._rfc3339): orjson writes the same
    ``2024-05-01T12:00:00.123456Z`` except for a zero fraction, which it leaves out."""
    if value is None or value.microsecond:
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + ".000000Z"


def raw_alert_json(
    alert: Normalized,
    annotations: dict[str, str],
    status: str | None,
    source: str,
    source_format: str,
    received_at: datetime | str,
) -> bytes:
    """The RawAlert record value of a normalized alert: ``fill_gaps`` + ``wire.encode`` in one step.

    ``received_at`` may be given already as ``wire_time(received_at)`` (the same for a whole batch).
    An end that normalize made up from the resolve timeout is left out, as fill_gaps does.
    """
    timing = alert.timing
    return orjson.dumps(
        {
            "labels": alert.labels,
            "annotations": annotations,
            "starts_at": wire_time(timing.starts_at),
            "ends_at": None if timing.timeout else wire_time(timing.ends_at),
            "generator_url": alert.generator_url,
            "status": status,
            "fingerprint": alert.fingerprint,
            "source": source,
            "source_format": source_format,
            "received_at": received_at,
        },
        option=_OPTIONS,
    )


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
