"""RawAlert → Alert: fill the gaps as Alertmanager's POST /api/v2/alerts does, then validate.

Shared by the HTTP bridge (to decide what to answer 400 for) and by the
normalize stage (for alerts that producers write to Kafka themselves), so
both apply exactly the same rules.  "Now" is always ``raw.received_at``:
the stage then reaches the same result as the bridge, however late it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from pipeline.fingerprint import alert_fingerprint
from pipeline.ingest.errors import InvalidAlert
from pipeline.ingest.text import go_quote, is_valid_utf8
from pipeline.ingest.timestamps import in_utc, unset_if_zero
from pipeline.ingest.validation import check_limits, validate_alert
from pipeline.models import Alert, AlertStatus, RawAlert, replace

EXPLICIT_STATUSES: tuple[AlertStatus, ...] = ("firing", "resolved")


class Timing(NamedTuple):
    """When an alert starts and ends, and what that makes it, as of its receipt."""

    starts_at: datetime
    ends_at: datetime | None
    status: AlertStatus
    timeout: bool


def normalize(raw: RawAlert, resolve_timeout: timedelta) -> Alert:
    """The normalized alert, or InvalidAlert with the reason.

    Idempotent over fill_gaps: ``normalize(fill_gaps(raw, normalize(raw, t)), t)``
    equals ``normalize(raw, t)``.
    """
    fields = normalize_fields(raw.labels, raw.annotations, raw.starts_at, raw.ends_at, raw.generator_url,
                              raw.status, raw.received_at, resolve_timeout)
    # Built from values checked above (labels and annotations are str maps of a validated RawAlert,
    # times are UTC: see raw_in_utc).
    return Alert(
        fingerprint=fields.fingerprint,
        labels=fields.labels,
        annotations=dict(raw.annotations),
        starts_at=fields.timing.starts_at,
        ends_at=fields.timing.ends_at,
        generator_url=fields.generator_url,
        status=fields.timing.status,
        updated_at=raw.received_at,
        timeout=fields.timing.timeout,
    )


class Normalized(NamedTuple):
    """What normalize decides about one alert, as plain values (see normalize_fields)."""

    fingerprint: str
    labels: dict[str, str]
    generator_url: str
    timing: Timing


def normalize_fields(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: datetime | None,
    ends_at: datetime | None,
    generator_url: str | None,
    status: str | None,
    received_at: datetime,
    resolve_timeout: timedelta,
) -> Normalized:
    """normalize over plain values: the one implementation of the rules, for the model path
    (normalize) and the bridge's plain-dict path (pipeline.ingest.records) alike.

    Raises InvalidAlert with the reason.
    """
    check_limits(labels, annotations, generator_url)
    timing = _timing(status, unset_if_zero(starts_at), unset_if_zero(ends_at), received_at, resolve_timeout)
    # Alertmanager's removeEmptyLabels: an empty value means "no such label".
    labels = {name: value for name, value in labels.items() if value != ""}
    validate_alert(timing.starts_at, timing.ends_at, labels, annotations)
    generator_url = generator_url or ""
    if not is_valid_utf8(generator_url):
        raise InvalidAlert(f"invalid generator URL {go_quote(generator_url)}")
    # Always ours: a sender's fingerprint may be computed over other labels.
    return Normalized(alert_fingerprint(labels), labels, generator_url, timing)


def resolve_timing(raw: RawAlert, resolve_timeout: timedelta) -> Timing:
    """Start, end, status and timeout flag of ``raw`` as of its ``received_at``.

    Without a status (Alertmanager API v2, what Prometheus sends): a missing
    start is the end, else now; a missing end is now + resolve_timeout with the
    timeout flag; resolved iff the end is not after now.

    With a status (webhook senders state it per alert): "resolved" ends at the
    given end, else now.  "firing" without an end stays open-ended and gets no
    timeout: Alertmanager and Grafana send an explicit resolved notification
    and repeat firing ones only every repeat_interval (4h by default), so a
    resolve_timeout would resolve them falsely in between.  "firing" with an
    end takes the end at its word, as the v2 rule does.
    """
    return _timing(raw.status, unset_if_zero(raw.starts_at), unset_if_zero(raw.ends_at), raw.received_at,
                   resolve_timeout)


def _timing(status: str | None, starts_at: datetime | None, ends_at: datetime | None, now: datetime,
            resolve_timeout: timedelta) -> Timing:
    if status is not None and status not in EXPLICIT_STATUSES:
        raise InvalidAlert(
            f'invalid status {go_quote(status)}: must be "firing", "resolved" or absent'
        )
    # Before the end is filled in, as Alertmanager does: a made-up end is no start.
    starts_at = starts_at or ends_at or now
    timeout = False
    if status == "resolved":
        ends_at = ends_at or now
    elif status is None and ends_at is None:
        try:
            ends_at = now + resolve_timeout
        except OverflowError:
            raise InvalidAlert("received_at plus resolve timeout is past the year 9999") from None
        timeout = True
    if status == "resolved":
        resolved: AlertStatus = "resolved"
    else:
        resolved = "resolved" if ends_at is not None and ends_at <= now else "firing"
    return Timing(starts_at, ends_at, resolved, timeout)


def fill_gaps(raw: RawAlert, alert: Alert) -> RawAlert:
    """``raw`` made explicit with what normalize decided, for the bridge to write to Kafka.

    Fills the start, a resolved alert's end, the generator URL, the
    fingerprint, and drops empty labels.  An end that normalize made up from
    the resolve timeout is left out (as is the status when the sender gave
    none): RawAlert has no timeout flag, so writing it would turn a timeout
    into a sender-given end.  The stage recomputes it from the same received_at.
    """
    return replace(
        raw,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.starts_at,
        ends_at=None if alert.timeout else alert.ends_at,
        generator_url=alert.generator_url,
        fingerprint=alert.fingerprint,
    )


def raw_in_utc(raw: RawAlert) -> RawAlert:
    """``raw`` with its timestamps in UTC, for records that direct producers wrote (any RFC 3339
    offset decodes and is kept as written); the bridge's readers convert as they parse.  Every
    later hop carries UTC.  InvalidAlert when a time is not representable in UTC."""
    starts_at, ends_at, received_at = raw.starts_at, raw.ends_at, raw.received_at
    if received_at.tzinfo is UTC and (starts_at is None or starts_at.tzinfo is UTC) and (
            ends_at is None or ends_at.tzinfo is UTC):
        return raw
    try:
        return replace(raw, starts_at=in_utc(starts_at, "starts_at"), ends_at=in_utc(ends_at, "ends_at"),
                       received_at=in_utc(received_at, "received_at"))
    except ValueError as exc:
        raise InvalidAlert(str(exc)) from None
