"""``prometheus-api``: the answer of Prometheus's ``GET /api/v1/alerts``, read by the Prometheus poll source.

    {"status": "success", "data": {"alerts": [
        {"labels": {...}, "annotations": {...}, "state": "firing", "activeAt": "2024-05-01T12:00:00Z",
         "value": "1e+00"}]}}

Only ``firing`` alerts become alerts: Prometheus sends no ``pending`` (or ``inactive``) alert to an
Alertmanager either. ``startsAt`` is ``activeAt``, when the rule's condition first held — the API
does not show when the alert started firing, so a rule with ``for: 5m`` starts 5 m earlier here than
in what Prometheus sends (same labels, same fingerprint: dedup keeps the earliest start). The API
gives no end: the poll source sets one (SourceStamp.valid_until), as Prometheus's own endsAt does,
and no generator URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest.errors import InvalidAlert, PayloadError
from pipeline.ingest.formats.alertmanager_alert import read_fields
from pipeline.ingest.formats.batch import BatchBuilder, ParsedBatch, SourceStamp
from pipeline.ingest.formats.fields import json_type, optional_string, optional_timestamp
from pipeline.models import RawAlert

SOURCE_FORMAT = "prometheus-api"
FIRING = "firing"
KNOWN_STATES = ("firing", "pending", "inactive")


def alert_list(payload: Any) -> list[Any]:
    """The ``data.alerts`` list of an answer; PayloadError when the answer is anything else."""
    if not isinstance(payload, Mapping):
        raise PayloadError(f"expected a JSON object (Prometheus API answer), got {json_type(payload)}")
    status = payload.get("status")
    if status != "success":
        error = optional_text(payload.get("error"))
        raise PayloadError(f"Prometheus answered status {status!r}" + (f": {error}" if error else ""))
    data = payload.get("data")
    alerts = data.get("alerts") if isinstance(data, Mapping) else None
    if not isinstance(alerts, list):
        raise PayloadError(f'"data.alerts" must be a list, got {json_type(alerts)}')
    return alerts


def optional_text(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) else None


def parse(
    payload: Any, *, source: str, received_at: datetime, resolve_timeout: timedelta,
    stamp: SourceStamp | None = None,
) -> ParsedBatch:
    """Every firing alert of the answer; the index of a problem is the alert's place in ``data.alerts``."""
    builder = BatchBuilder(resolve_timeout, stamp)
    for index, item in enumerate(alert_list(payload)):
        try:
            raw = _read(item, source=source, received_at=received_at)
        except InvalidAlert as exc:
            builder.reject(index, str(exc))
            continue
        if raw is not None:
            builder.add(index, raw)
    return builder.batch


def _read(item: Any, *, source: str, received_at: datetime) -> RawAlert | None:
    labels, annotations, _starts, _ends, _url, _status = read_fields(item, with_status=False)
    state = optional_string(item.get("state"), "state")
    if state not in KNOWN_STATES:
        raise InvalidAlert(f"state must be one of {', '.join(KNOWN_STATES)}, got {state!r}")
    if state != FIRING:
        return None
    return RawAlert(
        labels=labels,
        annotations=annotations,
        starts_at=optional_timestamp(item.get("activeAt"), "activeAt"),
        source=source,
        source_format=SOURCE_FORMAT,
        received_at=received_at,
    )
