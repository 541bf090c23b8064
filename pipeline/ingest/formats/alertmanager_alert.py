"""The alert object that Alertmanager's API and webhooks (and Grafana's) share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest import limits
from pipeline.ingest.errors import AlertProblem, InvalidAlert, PayloadError
from pipeline.ingest.formats.batch import BatchBuilder, ParsedBatch, SourceStamp
from pipeline.ingest.formats.fields import (
    json_type,
    optional_string,
    optional_timestamp,
    scalar_text,
    string_map,
    with_article,
)
from pipeline.ingest.normalize import normalize_fields
from pipeline.ingest.records import RecordBatch, raw_alert_json
from pipeline.ingest.text import go_quote
from pipeline.models import RawAlert


def collect_alerts(
    items: Iterable[Any],
    *,
    source: str,
    source_format: str,
    received_at: datetime,
    resolve_timeout: timedelta,
    with_status: bool,
    extend: Callable[[RawAlert, Any], RawAlert] = lambda raw, _item: raw,
    stamp: SourceStamp | None = None,
) -> ParsedBatch:
    """Read every alert object of a batch; an unreadable one becomes that index's problem.

    ``extend`` lets a format add what its alert objects carry beyond Alertmanager's (Grafana's URLs);
    ``stamp`` is what the source adds to each alert.
    """
    builder = BatchBuilder(resolve_timeout, stamp)
    for index, item in enumerate(items):
        try:
            raw = read_alert(item, source=source, source_format=source_format,
                             received_at=received_at, with_status=with_status)
        except InvalidAlert as exc:
            builder.reject(index, str(exc))
            continue
        builder.add(index, extend(raw, item))
    return builder.batch


def read_alert(
    item: Any,
    *,
    source: str,
    source_format: str,
    received_at: datetime,
    with_status: bool,
) -> RawAlert:
    """The RawAlert of one alert object; InvalidAlert when a field has the wrong shape.

    ``with_status``: the format states each alert's status (webhooks); API v2
    alerts have none, and a ``status`` key there is ignored like any unknown key.
    The sender's ``fingerprint`` is never read: ours is recomputed from the labels.
    """
    labels, annotations, starts_at, ends_at, generator_url, status = read_fields(item, with_status)
    # Every field is checked by the readers (string maps, UTC timestamps, strings).
    return RawAlert(
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator_url,
        status=status,
        source=source,
        source_format=source_format,
        received_at=received_at,
    )


def read_fields(item: Any, with_status: bool) -> tuple[
    dict[str, str], dict[str, str], datetime | None, datetime | None, str | None, str | None
]:
    """(labels, annotations, startsAt, endsAt, generatorURL, status) of one alert object, checked;
    InvalidAlert when a field has the wrong shape. Shared by read_alert and collect_records."""
    if type(item) is not dict and not isinstance(item, Mapping):
        raise InvalidAlert(f"alert must be a JSON object, got {json_type(item)}")
    get = item.get
    return (
        string_map(get("labels"), "labels", cap=limits.MAX_LABELS, required=True),
        string_map(get("annotations"), "annotations", cap=limits.MAX_ANNOTATIONS),
        optional_timestamp(get("startsAt"), "startsAt"),
        optional_timestamp(get("endsAt"), "endsAt"),
        optional_string(get("generatorURL"), "generatorURL"),
        optional_string(get("status"), "status") if with_status else None,
    )


def collect_records(
    items: Iterable[Any],
    *,
    source: str,
    source_format: str,
    received_at: datetime,
    resolve_timeout: timedelta,
    with_status: bool,
    max_record_bytes: int,
    stamp: SourceStamp | None = None,
) -> RecordBatch:
    """collect_alerts straight to Kafka records, in one step per alert (pipeline.ingest.records).

    Each alert gets exactly the verdict, the problem text and the record bytes of the model path
    (collect_alerts, then the bridge's ``wire.encode``); an alert whose record is larger than
    ``max_record_bytes`` is a problem too.
    """
    batch = RecordBatch()
    keys, values, problems = batch.keys, batch.values, batch.problems
    for index, item in enumerate(items):
        try:
            labels, annotations, starts_at, ends_at, generator_url, status = read_fields(item, with_status)
            if stamp is not None:
                labels, ends_at = stamp.labels_for(labels), stamp.end_for(status, starts_at, ends_at)
            alert = normalize_fields(labels, annotations, starts_at, ends_at, generator_url, status,
                                     received_at, resolve_timeout)
        except InvalidAlert as exc:
            problems.append(AlertProblem(index, str(exc)))
            continue
        value = raw_alert_json(alert, annotations, status, source, source_format, received_at)
        if len(value) > max_record_bytes:
            problems.append(AlertProblem(index, record_too_large(len(value), max_record_bytes)))
            continue
        keys.append(alert.fingerprint.encode())
        values.append(value)
    return batch


def record_too_large(size: int, limit: int) -> str:
    """Why an alert whose encoded record exceeds the limit is invalid (normalize would dead-letter it)."""
    return f"alert too large: its record is {size} bytes encoded (max {limit})"


def webhook_object(payload: Any, what: str, version: str) -> Mapping[str, Any]:
    """A webhook payload of ``version``; PayloadError when the body is anything else."""
    if not isinstance(payload, Mapping):
        raise PayloadError(f"expected a JSON object ({what}), got {json_type(payload)}")
    found = payload.get("version")
    if found != version:
        raise PayloadError(
            f"unsupported {what} version: found {_describe(found)}, expected {go_quote(version)}"
        )
    return payload


def alerts_list(payload: Mapping[str, Any], what: str) -> list[Any]:
    """The ``alerts`` list of a webhook payload; PayloadError when there is none."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError(f'{what}: "alerts" must be a list, got {json_type(alerts)}')
    return alerts


def _describe(value: Any) -> str:
    # Never repr() sender data: it can be huge or nested past the recursion limit.
    if value is None:
        return "none"
    if isinstance(value, str):
        return go_quote(value)
    text = scalar_text(value)
    return f"{text} ({with_article(value)})" if text is not None else with_article(value)
