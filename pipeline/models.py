"""In-process representation of the records on the wire.

One pydantic model per record of the Avro contract in ``schemas/``; field
names, optionality and defaults mirror the schemas exactly
(tests/unit/test_models.py checks that).  On the wire the models are JSON
(``pipeline.wire.encode``/``decode``); ``to_avro()``/``from_avro()`` serve the
Avro path.  Fields the schema keeps as open strings (status, state,
priority...) are Literals here: the wire stays evolvable, the code gets
checked values.

Models built in code are strict: an unknown field is an error (a typo).
``pipeline.wire.decode`` validates with ``extra="ignore"`` instead, so a newer
writer's added fields do not break an older reader.

Plain data only: no Kafka, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema
from pydantic_core import core_schema

from pipeline.fingerprint import alert_fingerprint


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00
        raise ValueError("datetime is out of range in UTC") from None


def _rfc3339(value: datetime) -> datetime | str:
    # pydantic writes a UTC datetime as 2024-05-01T12:00:00.123456Z but drops
    # a zero fraction; the wire always carries six digits.  Only that rare
    # case pays for formatting in Python.
    if value.microsecond:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + ".000000Z"


def _utc_datetime_schema(_source: Any, _handler: Any) -> core_schema.CoreSchema:
    return core_schema.union_schema(
        [
            # Already UTC (every JSON and Avro record we write): no Python call.
            core_schema.datetime_schema(tz_constraint=0),
            core_schema.no_info_after_validator_function(
                _as_utc, core_schema.datetime_schema(tz_constraint="aware")
            ),
        ],
        mode="left_to_right",
        custom_error_type="utc_datetime",
        custom_error_message="Input should be a datetime with a UTC offset, representable in "
        "UTC (RFC 3339, e.g. 2024-05-01T12:00:00.123456Z)",
        serialization=core_schema.plain_serializer_function_ser_schema(
            _rfc3339, when_used="json", info_arg=False
        ),
    )


# A timezone-aware datetime, converted to UTC.  Naive datetimes are rejected
# rather than guessed at: a wrong zone would silently shift every timeout and
# silence window.  JSON: RFC 3339 in UTC with microseconds,
# "2024-05-01T12:00:00.123456Z".
UtcDatetime = Annotated[datetime, GetPydanticSchema(_utc_datetime_schema)]
Labels = dict[str, str]

AlertStatus = Literal["firing", "resolved"]
Change = Literal["new", "updated", "resolved", "expired"]
Priority = Literal["P0", "P1", "P2", "P3", "P4"]
ClassifiedBy = Literal["rules", "llm"]
AlertState = Literal["active", "suppressed", "unprocessed"]
# Open set (every connector adds one), so a plain string; these are the built-in ones.
KNOWN_SOURCE_FORMATS = (
    "alertmanager-v2",
    "alertmanager-webhook-v4",
    "grafana",
    "generic",
    "direct",
)


class _Data(BaseModel):
    # Unknown keys are bugs (typos, a schema field missing from the model).
    model_config = ConfigDict(extra="forbid")


class WireRecord(_Data):
    """A model that is a top-level record on the wire (see pipeline.wire).

    ``avro_record`` is the name of its record in the Avro contract
    (``schemas/<avro_record>.avsc``).
    """

    avro_record: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        """The value as the Avro writer expects it (datetimes stay datetimes)."""
        # No serializer warnings: the Avro writer reports wrongly typed values.
        return self.model_dump(warnings=False)

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> Self:
        """Build the model from a value read by the Avro reader."""
        return cls.model_validate(value)


class Alert(WireRecord):
    """A normalized alert (Alertmanager types.Alert).

    ``fingerprint`` is required, as in the schema; ``Alert.with_fingerprint``
    computes it from the labels.
    """

    avro_record: ClassVar[str] = "Alert"

    fingerprint: str = Field(pattern=r"^[0-9a-f]{16}$")
    labels: Labels
    annotations: Labels = {}
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None = None
    generator_url: str = ""
    status: AlertStatus
    updated_at: UtcDatetime
    timeout: bool = False

    @classmethod
    def with_fingerprint(cls, **fields: Any) -> Self:
        """An Alert of ``fields`` whose fingerprint, when missing or None, is
        computed from the labels (Alertmanager's fingerprint).

        Not a validator: records on the wire carry the fingerprint (the schema
        requires it), and a Python validator would slow every decode by a third.
        """
        # Only when the labels are well-formed; otherwise let field validation
        # report the labels (and the missing fingerprint) properly.
        labels = fields.get("labels")
        if fields.get("fingerprint") is None and isinstance(labels, Mapping):
            if all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                fields["fingerprint"] = alert_fingerprint(labels)
        return cls(**fields)

    def is_resolved_at(self, now: datetime) -> bool:
        """Alertmanager's Alert.ResolvedAt: ends_at is set and not after ``now``."""
        return self.ends_at is not None and self.ends_at <= now


class RawAlert(WireRecord):
    """An alert as received on alerts.raw: unvalidated, normalize fills the gaps."""

    avro_record: ClassVar[str] = "RawAlert"

    labels: Labels
    annotations: Labels = {}
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    generator_url: str | None = None
    # Kept as any string: rejecting bad input is the normalize stage's job.
    status: str | None = None
    fingerprint: str | None = None
    source: str
    source_format: str
    received_at: UtcDatetime


class AlertEvent(WireRecord):
    """Value of alerts.normalized and alerts.deduped."""

    avro_record: ClassVar[str] = "AlertEvent"

    alert: Alert
    source: str
    source_format: str
    received_at: UtcDatetime
    change: Change | None = None


class Classification(_Data):
    priority: Priority
    category: str = ""
    team: str = ""
    tags: list[str] = []
    auto_incident: bool = False
    classified_by: ClassifiedBy
    # JSON has no NaN/Infinity (pydantic would write null), so neither may a model.
    confidence: float | None = Field(default=None, allow_inf_nan=False)
    reason: str | None = None


class Link(_Data):
    title: str
    url: str


class RouteMatch(_Data):
    """A routing-tree node that matched the alert, and the group it lands in."""

    receiver: str
    route_key: str
    group_key: str
    group_labels: Labels = {}


class EnrichedAlert(AlertEvent):
    """Value of alerts.classified, alerts.muted, alerts.routed and alerts.enriched.

    Extends AlertEvent: each later stage fills in its own fields.
    """

    avro_record: ClassVar[str] = "EnrichedAlert"

    classification: Classification | None = None
    links: list[Link] = []
    enrichment_errors: list[str] = []
    routes: list[RouteMatch] = []
    silenced_by: list[str] = []
    inhibited_by: list[str] = []
    state: AlertState = "unprocessed"


def notification_id(group_key: str, receiver: str, flush_seq: int) -> str:
    """Stable id of one flush of one group to one receiver.

    A retried or replayed flush gets the same id, so sinks can deduplicate.
    Hashed because group keys are long and full of quotes and braces.
    """
    material = f"{group_key}\x00{receiver}\x00{flush_seq}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


class Notification(WireRecord):
    """Value of notifications, notifications.retry.* and notifications.dlq."""

    avro_record: ClassVar[str] = "Notification"

    id: str
    receiver: str
    status: AlertStatus
    group_key: str
    group_labels: Labels = {}
    common_labels: Labels = {}
    common_annotations: Labels = {}
    external_url: str = ""
    truncated_alerts: int = Field(default=0, ge=0, lt=2**31)
    alerts: list[Alert]
    flush_seq: int = Field(ge=0, lt=2**63)
    created_at: UtcDatetime
    route_key: str = ""
    # "<integration>/<index>" (slack/0, webhook/1): the one notifier of the receiver this is for;
    # each has its own notification log entry and send_resolved, so each gets its own record.
    integration: str = ""


class Matcher(_Data):
    """Alertmanager API v2 matcher."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


class Silence(WireRecord):
    """Value of the compacted silences topic."""

    avro_record: ClassVar[str] = "Silence"

    id: str
    matchers: list[Matcher]
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    updated_at: UtcDatetime
    created_by: str
    comment: str


RECORD_MODELS: dict[str, type[WireRecord]] = {
    model.avro_record: model
    for model in (Alert, RawAlert, AlertEvent, EnrichedAlert, Notification, Silence)
}


# -- The stable way to work with records, whatever the model library underneath ----------------------
# Internal records are moving from pydantic models to compiled msgspec Structs (the lean data path);
# code outside pipeline.models and pipeline.wire uses these instead of library methods
# (model_copy, model_dump, model_validate), so it keeps working across that change.

R = Any


def replace(record: R, **changes: Any) -> R:
    """A copy of ``record`` with ``changes`` (no validation: the values must already be right)."""
    return record.model_copy(update=changes)


def to_builtins(record: R) -> dict[str, Any]:
    """The record as JSON-ready builtins (datetimes as RFC 3339 strings), as on the wire."""
    return record.model_dump(mode="json")


def from_builtins(record_type: type[R], value: Mapping[str, Any]) -> R:
    """A record from builtins (as ``to_builtins`` returns, or decoded JSON), validated."""
    return record_type.model_validate(value)
