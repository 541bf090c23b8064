"""``alertmanager-webhook``: what an Alertmanager webhook_configs receiver posts (version 4).

Only the alerts matter: the group fields (groupKey, receiver, groupLabels,
common*, externalURL, truncatedAlerts) describe the sender's grouping, which
this pipeline redoes itself.  Each alert states its status; a firing one
carries Go's zero time as endsAt, i.e. no end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest.formats.alertmanager_alert import alerts_list, collect_alerts, collect_records, webhook_object
from pipeline.ingest.formats.batch import ParsedBatch, SourceStamp
from pipeline.ingest.records import RecordBatch

SOURCE_FORMAT = "alertmanager-webhook-v4"
PAYLOAD_VERSION = "4"
_WHAT = "Alertmanager webhook payload"


def parse(
    payload: Any, *, source: str, received_at: datetime, resolve_timeout: timedelta,
    stamp: SourceStamp | None = None,
) -> ParsedBatch:
    body = webhook_object(payload, _WHAT, PAYLOAD_VERSION)
    return collect_alerts(alerts_list(body, _WHAT), source=source, source_format=SOURCE_FORMAT,
                          received_at=received_at, resolve_timeout=resolve_timeout, with_status=True, stamp=stamp)


def parse_records(
    payload: Any, *, source: str, received_at: datetime, resolve_timeout: timedelta, max_record_bytes: int,
    stamp: SourceStamp | None = None,
) -> RecordBatch:
    """``parse`` straight to Kafka records (the bridge's fast path, pipeline.ingest.records)."""
    body = webhook_object(payload, _WHAT, PAYLOAD_VERSION)
    return collect_records(alerts_list(body, _WHAT), source=source, source_format=SOURCE_FORMAT,
                           received_at=received_at, resolve_timeout=resolve_timeout, with_status=True,
                           max_record_bytes=max_record_bytes, stamp=stamp)
