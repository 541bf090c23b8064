"""``alertmanager-v2``: the body of Alertmanager's POST /api/v2/alerts, as Prometheus sends it.

A JSON array of {labels, annotations, startsAt, endsAt, generatorURL}.  No
status: timing follows Alertmanager's postAlertsHandler (see normalize).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest.errors import PayloadError
from pipeline.ingest.formats.alertmanager_alert import collect_alerts, collect_records
from pipeline.ingest.formats.batch import ParsedBatch, SourceStamp
from pipeline.ingest.formats.fields import json_type
from pipeline.ingest.records import RecordBatch

SOURCE_FORMAT = "alertmanager-v2"


def parse(
    payload: Any, *, source: str, received_at: datetime, resolve_timeout: timedelta,
    stamp: SourceStamp | None = None,
) -> ParsedBatch:
    if not isinstance(payload, list):
        raise PayloadError(
            f"expected a JSON array of alerts (Alertmanager API v2), got {json_type(payload)}"
        )
    return collect_alerts(payload, source=source, source_format=SOURCE_FORMAT, received_at=received_at,
                          resolve_timeout=resolve_timeout, with_status=False, stamp=stamp)


def parse_records(
    payload: Any, *, source: str, received_at: datetime, resolve_timeout: timedelta, max_record_bytes: int,
    stamp: SourceStamp | None = None,
) -> RecordBatch:
    """``parse`` straight to Kafka records (the bridge's fast path, pipeline.ingest.records)."""
    if not isinstance(payload, list):
        raise PayloadError(
            f"expected a JSON array of alerts (Alertmanager API v2), got {json_type(payload)}"
        )
    return collect_records(payload, source=source, source_format=SOURCE_FORMAT, received_at=received_at,
                           resolve_timeout=resolve_timeout, with_status=False, max_record_bytes=max_record_bytes,
                           stamp=stamp)
