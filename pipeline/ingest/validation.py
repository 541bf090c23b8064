"""Alertmanager's validity rules for one alert, and our size caps.

Messages are Alertmanager 0.25's (types.Alert.Validate over prometheus/common
v0.38 LabelSet.Validate) word for word, so a 400 from the bridge reads like
Alertmanager's.  Go walks a map in random order and reports the first bad
pair; we walk names in sorted order so the same input always gets the same
message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from pipeline.ingest import limits
from pipeline.ingest.errors import InvalidAlert
from pipeline.ingest.text import go_quote, is_valid_utf8, utf8_size

# model.LabelName.IsValid; fullmatch, since "$" would also accept a trailing newline.
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


# Names already seen valid. Senders use few distinct label and annotation names, so nearly every
# alert is checked by set lookups alone; the cap bounds what hostile senders can make it hold.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_CAP = 16384


def label_set_error(pairs: Mapping[str, str]) -> str | None:
    """model.LabelSet.Validate: the first invalid name or value, or None when all are valid."""
    known = _VALID_NAMES
    for name, value in pairs.items():
        if name not in known or not value.isascii():  # ASCII is valid UTF-8
            break
    else:
        return None
    for name in sorted(pairs):
        if not LABEL_NAME.fullmatch(name):
            return f"invalid name {go_quote(name)}"
        if len(known) < _VALID_NAMES_CAP:
            known.add(name)
        if not is_valid_utf8(pairs[name]):
            return f"invalid value {go_quote(pairs[name])}"
    return None


def validate_alert(
    starts_at: datetime | None,
    ends_at: datetime | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> None:
    """types.Alert.Validate, in its order; raises InvalidAlert with its message."""
    if starts_at is None:
        raise InvalidAlert("start time missing")
    if ends_at is not None and ends_at < starts_at:
        raise InvalidAlert("start time must be before end time")
    if (problem := label_set_error(labels)) is not None:
        raise InvalidAlert(f"invalid label set: {problem}")
    if not labels:
        raise InvalidAlert("at least one label pair required")
    if (problem := label_set_error(annotations)) is not None:
        raise InvalidAlert(f"invalid annotations: {problem}")


def check_count(kind: str, pairs: Mapping[object, object], cap: int) -> None:
    """Refuse more than ``cap`` ``kind`` (labels, annotations) before looking at any of them."""
    if len(pairs) > cap:
        raise InvalidAlert(f"too many {kind}: {len(pairs)} (max {cap})")


def check_limits(
    labels: Mapping[str, str], annotations: Mapping[str, str], generator_url: str | None
) -> None:
    """Our caps (pipeline.ingest.limits), checked before any other rule; raises InvalidAlert."""
    check_count("labels", labels, limits.MAX_LABELS)
    check_count("annotations", annotations, limits.MAX_ANNOTATIONS)
    total = _check_pair_sizes("label", labels, limits.MAX_LABEL_VALUE_BYTES)
    total += _check_pair_sizes("annotation", annotations, limits.MAX_ANNOTATION_VALUE_BYTES)
    if generator_url is not None:
        total += _checked_size(generator_url, limits.MAX_GENERATOR_URL_BYTES, "generator URL")
    if total > limits.MAX_ALERT_TEXT_BYTES:
        raise InvalidAlert(
            f"alert too large: labels, annotations and generator URL take {total} bytes "
            f"(max {limits.MAX_ALERT_TEXT_BYTES})"
        )


def _check_pair_sizes(kind: str, pairs: Mapping[str, str], max_value_bytes: int) -> int:
    total = 0
    max_name_bytes = limits.MAX_NAME_BYTES
    for name, value in pairs.items():
        # Fast path (nearly every pair): ASCII text within its cap, where characters are bytes.
        if len(name) <= max_name_bytes and len(value) <= max_value_bytes and name.isascii() and value.isascii():
            total += len(name) + len(value)
            continue
        # The description of what is too long is built only when something is: quoting every
        # name up front cost ~17 µs per alert on the bridge's hot path.
        total += _checked_size(name, max_name_bytes, kind, "name {}", name)
        total += _checked_size(value, max_value_bytes, kind, "value of {}", name)
    return total


def _checked_size(text: str, cap: int, kind: str, what: str = "", name: str = "") -> int:
    # A string of more than cap characters is more than cap bytes: refuse it
    # without encoding it just to measure it.
    if len(text) > cap:
        raise InvalidAlert(f"{_describe(kind, what, name)} too long: {len(text)} characters (max {cap} bytes)")
    size = utf8_size(text)
    if size > cap:
        raise InvalidAlert(f"{_describe(kind, what, name)} too long: {size} bytes (max {cap})")
    return size


def _describe(kind: str, what: str, name: str) -> str:
    return f"{kind} {what.format(go_quote(name))}" if what else kind
