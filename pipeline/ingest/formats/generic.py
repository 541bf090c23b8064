"""``generic``: any JSON body, turned into alerts by the source's GenericMapping.

Mapped values become text as JSON writes them (numbers, true/false); an
object or array mapped to one label or annotation becomes compact JSON.  The
``*_from`` merges take only scalar members, since a nested member is not a
value but a structure.  A mapped status is explicit, so it follows the
webhook rules in normalize (a firing alert without an end stays open).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest import limits
from pipeline.ingest.errors import InvalidAlert, PayloadError
from pipeline.ingest.formats.batch import BatchBuilder, ParsedBatch, SourceStamp
from pipeline.ingest.formats.fields import compact_json, json_type, scalar_text, with_article
from pipeline.ingest.formats.generic_mapping import (
    SEVERITY_LABEL,
    GenericMapping,
    SeverityMapping,
    StatusMapping,
    search,
)
from pipeline.ingest.text import go_quote
from pipeline.ingest.timestamps import from_unix_number, parse_rfc3339
from pipeline.ingest.validation import check_count
from pipeline.models import RawAlert

SOURCE_FORMAT = "generic"


def parse(
    payload: Any,
    *,
    source: str,
    received_at: datetime,
    resolve_timeout: timedelta,
    mapping: GenericMapping,
    stamp: SourceStamp | None = None,
) -> ParsedBatch:
    builder = BatchBuilder(resolve_timeout, stamp)
    for index, item in enumerate(_alert_objects(payload, mapping)):
        try:
            raw = _map_alert(item, mapping, source=source, received_at=received_at)
        except InvalidAlert as exc:
            builder.reject(index, str(exc))
            continue
        builder.add(index, raw)
    return builder.batch


def _alert_objects(payload: Any, mapping: GenericMapping) -> list[Any]:
    if mapping.alerts is None:
        return [payload]
    try:
        found = search(mapping.alerts, payload)
    except ValueError as exc:
        raise PayloadError(f"alerts: {exc}", status=422) from None
    if not isinstance(found, list):
        raise PayloadError(
            f"alerts path {mapping.alerts!r} must find a list of alerts, found {json_type(found)}",
            status=422,
        )
    return found


def _map_alert(
    item: Any, mapping: GenericMapping, *, source: str, received_at: datetime
) -> RawAlert:
    if not isinstance(item, Mapping):
        raise InvalidAlert(f"alert must be a JSON object, got {json_type(item)}")
    labels = _merged_scalars(item, mapping.labels_from, "labels_from", limits.MAX_LABELS)
    labels.update(_mapped_texts(item, mapping.labels, "labels"))
    if mapping.severity is not None and (severity := _severity(item, mapping.severity)) is not None:
        labels[SEVERITY_LABEL] = severity
    labels.update(mapping.static_labels)
    annotations = _merged_scalars(
        item, mapping.annotations_from, "annotations_from", limits.MAX_ANNOTATIONS
    )
    annotations.update(_mapped_texts(item, mapping.annotations, "annotations"))
    return RawAlert(
        labels=labels,
        annotations=annotations,
        starts_at=_timestamp(item, mapping.starts_at, "starts_at"),
        ends_at=_timestamp(item, mapping.ends_at, "ends_at"),
        generator_url=_generator_url(item, mapping.generator_url),
        status=_status(item, mapping.status),
        source=source,
        source_format=SOURCE_FORMAT,
        received_at=received_at,
    )


def _value(item: Any, path: str, key: str) -> Any:
    try:
        return search(path, item)
    except ValueError as exc:
        raise InvalidAlert(f"{key}: {exc}") from None


def _mapped_texts(item: Any, paths: Mapping[str, str], key: str) -> dict[str, str]:
    texts = {}
    for name, path in paths.items():
        value = _value(item, path, f"{key}.{name}")
        text = scalar_text(value) if not isinstance(value, (dict, list)) else compact_json(value)
        if text is not None:
            texts[name] = text
    return texts


def _merged_scalars(item: Any, path: str | None, key: str, cap: int) -> dict[str, str]:
    if path is None:
        return {}
    found = _value(item, path, key)
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        raise InvalidAlert(f"{key} path {path!r} must find an object, found {json_type(found)}")
    # The same cap as for the final set, before copying anything out of it.
    check_count(key.removesuffix("_from"), found, cap)
    merged = {}
    for name, value in found.items():
        text = scalar_text(value)
        if isinstance(name, str) and text is not None:
            merged[name] = text
    return merged


def _severity(item: Any, severity: SeverityMapping) -> str | None:
    found = scalar_text(_value(item, severity.path, "severity"))
    if found is not None and found in severity.map:
        return severity.map[found]
    if severity.default is not None:
        return severity.default
    return found


def _status(item: Any, status: StatusMapping | None) -> str | None:
    if status is None:
        return None
    value = _value(item, status.path, "status")
    if value is None:
        return None
    text = scalar_text(value)
    if text in status.firing:
        return "firing"
    if text in status.resolved:
        return "resolved"
    shown = go_quote(text) if text is not None else with_article(value)
    raise InvalidAlert(
        f"status value {shown} at {status.path!r} is neither firing {status.firing} "
        f"nor resolved {status.resolved}"
    )


def _timestamp(item: Any, path: str | None, key: str) -> datetime | None:
    if path is None:
        return None
    value = _value(item, path, key)
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return parse_rfc3339(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return from_unix_number(value)
    except ValueError as exc:
        shown = (
            go_quote(value) if isinstance(value, str) else scalar_text(value) or "(a huge number)"
        )
        raise InvalidAlert(f"invalid {key} {shown}: {exc}") from None
    raise InvalidAlert(
        f"invalid {key}: expected an RFC 3339 string or Unix time number, got {json_type(value)}"
    )


def _generator_url(item: Any, path: str | None) -> str | None:
    if path is None:
        return None
    value = _value(item, path, "generator_url")
    if value is None or isinstance(value, str):
        return value
    raise InvalidAlert(f"generator_url must be a string, got {json_type(value)}")
