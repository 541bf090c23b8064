"""In-process representation of the records on the wire.

One msgspec Struct per record of the Avro contract in ``schemas/``; field
names, order, optionality and defaults mirror the schemas exactly
(tests/unit/test_models.py checks that).  On the wire the records are JSON
(``pipeline.wire.encode``/``decode``); ``to_avro()``/``from_avro()`` serve the
Avro path.  Fields the schema keeps as open strings (status, state,
priority...) are Literals here: the wire stays evolvable, the code gets
checked values.

Validation happens where values come in, not where code builds records:
``pipeline.wire.decode`` and ``from_builtins`` check every type and
constraint of the contract (fingerprint format, integer ranges, finite
floats, Literals, timestamps with an offset) and ignore unknown fields, so a
newer writer's added fields do not break an older reader.  A constructor
call in code checks only the field names: an unknown one (a typo) or a
missing required one is a TypeError; the values are trusted, as the static
types describe them.  The edges (the bridge, the normalize stage) build
records from validated input and convert timestamps to UTC; every later hop
carries what our writers wrote.

Plain data only: no Kafka, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

import msgspec

from pipeline.fingerprint import alert_fingerprint

# A timezone-aware datetime.  Naive ones are rejected on decode rather than
# guessed at: a wrong zone would silently shift every timeout and silence
# window.  Our writers write UTC (JSON: RFC 3339, "2024-05-01T12:00:00.123456Z",
# the fraction left out when it is zero; see docs/wire-format.md); an offset
# written by someone else is kept as read, and the edges convert to UTC.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
Labels = dict[str, str]
Fingerprint = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{16}$", min_length=16, max_length=16)]
# JSON has no NaN or Infinity (msgspec would write null), so the contract's doubles are finite:
# the bounds reject both infinities and NaN (which fails every comparison).
_FLOAT_MAX = 1.7976931348623157e308
FiniteFloat = Annotated[float, msgspec.Meta(ge=-_FLOAT_MAX, le=_FLOAT_MAX)]
# Avro int and long.
Int32Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Int64Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

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


# frozen: a record is a value.  Stages chained in one process hand the same object on, and the
# state tables keep it: nobody may change it in place (replace() makes the changed copy).
# gc=False: a record never takes part in a reference cycle (it holds strings, numbers, datetimes,
# dicts, lists and other records), so the garbage collector need not track it; that saves memory
# per record and the collector's time over a million of them (bench/codec/RESULTS.md).
# kw_only: required fields follow fields with defaults, in the schema's order.
class _Data(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    pass


class WireRecord(_Data, kw_only=True):
    """A record that is a top-level record on the wire (see pipeline.wire).

    ``avro_record`` is the name of its record in the Avro contract
    (``schemas/<avro_record>.avsc``).
    """

    avro_record: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        """The value as the Avro writer expects it (datetimes stay datetimes)."""
        return msgspec.to_builtins(self, builtin_types=(datetime,))

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> Self:
        """The record of a value read by the Avro reader, validated (WireError otherwise)."""
        return from_builtins(cls, value, encoding="Avro")


class Alert(WireRecord, kw_only=True):
    """A normalized alert (Alertmanager types.Alert).

    ``fingerprint`` is required, as in the schema; ``Alert.with_fingerprint``
    computes it from the labels.
    """

    avro_record: ClassVar[str] = "Alert"

    fingerprint: Fingerprint
    labels: Labels
    annotations: Labels = {}
    starts_at: Timestamp
    ends_at: Timestamp | None = None
    generator_url: str = ""
    status: AlertStatus
    updated_at: Timestamp
    timeout: bool = False

    @classmethod
    def with_fingerprint(cls, **fields: Any) -> Self:
        """An Alert of ``fields``, validated as a decoded record is (WireError naming the bad
        fields), whose fingerprint, when missing or None, is computed from the labels
        (Alertmanager's fingerprint).  For alerts built from loose values (examples, tools,
        tests); an unknown field name is a TypeError as in the constructor.
        """
        unknown = fields.keys() - set(cls.__struct_fields__)
        if unknown:
            raise TypeError(f"Unexpected keyword argument {sorted(unknown)[0]!r}")
        # Only when the labels are well-formed; otherwise let validation report the labels.
        labels = fields.get("labels")
        if fields.get("fingerprint") is None and isinstance(labels, Mapping):
            if all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                fields["fingerprint"] = alert_fingerprint(labels)
        return from_builtins(cls, fields)

    def is_resolved_at(self, now: datetime) -> bool:
        """Alertmanager's Alert.ResolvedAt: ends_at is set and not after ``now``."""
        return self.ends_at is not None and self.ends_at <= now


class RawAlert(WireRecord, kw_only=True):
    """An alert as received on alerts.raw: unvalidated, normalize fills the gaps."""

    avro_record: ClassVar[str] = "RawAlert"

    labels: Labels
    annotations: Labels = {}
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    generator_url: str | None = None
    # Kept as any string: rejecting bad input is the normalize stage's job.
    status: str | None = None
    fingerprint: str | None = None
    source: str
    source_format: str
    received_at: Timestamp


class AlertEvent(WireRecord, kw_only=True):
    """Value of alerts.normalized and alerts.deduped."""

    avro_record: ClassVar[str] = "AlertEvent"

    alert: Alert
    source: str
    source_format: str
    received_at: Timestamp
    change: Change | None = None


class Classification(_Data, kw_only=True):
    priority: Priority
    category: str = ""
    team: str = ""
    tags: list[str] = []
    auto_incident: bool = False
    classified_by: ClassifiedBy
    confidence: FiniteFloat | None = None
    reason: str | None = None


class Link(_Data, kw_only=True):
    title: str
    url: str


class RouteMatch(_Data, kw_only=True):
    """A routing-tree node that matched the alert, and the group it lands in."""

    receiver: str
    route_key: str
    group_key: str
    group_labels: Labels = {}


class EnrichedAlert(AlertEvent, kw_only=True):
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


class Notification(WireRecord, kw_only=True):
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
    truncated_alerts: Int32Count = 0
    alerts: list[Alert]
    flush_seq: Int64Count
    created_at: Timestamp
    route_key: str = ""
    # "<integration>/<index>" (slack/0, webhook/1): the one notifier of the receiver this is for;
    # each has its own notification log entry and send_resolved, so each gets its own record.
    integration: str = ""


DeliveryOutcomeKind = Literal["delivered", "retrying", "dead_lettered", "duplicate_skipped"]
# Avro int, 1-based: the first attempt from notifications is 1.
AttemptNumber = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class DeliveryOutcome(WireRecord, kw_only=True):
    """Value of notifications.outcomes: what became of one delivery attempt of one notification,
    written by the sink once the outcome is durable; read by the history stage. Carries no secret:
    no target URL, no response body, only the connector's bounded, secret-free reason."""

    avro_record: ClassVar[str] = "DeliveryOutcome"

    notification_id: str
    receiver: str
    integration: str = ""
    group_key: str
    outcome: DeliveryOutcomeKind
    attempt: AttemptNumber
    error: str = ""
    at: Timestamp
    retry_tier: str = ""
    status_code: Int32Count | None = None


class Matcher(_Data, kw_only=True):
    """Alertmanager API v2 matcher."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


class Silence(WireRecord, kw_only=True):
    """Value of the compacted silences topic."""

    avro_record: ClassVar[str] = "Silence"

    id: str
    matchers: list[Matcher]
    starts_at: Timestamp
    ends_at: Timestamp
    updated_at: Timestamp
    created_by: str
    comment: str


RECORD_MODELS: dict[str, type[WireRecord]] = {
    model.avro_record: model
    for model in (Alert, RawAlert, AlertEvent, EnrichedAlert, Notification, Silence, DeliveryOutcome)
}


# -- The stable way to work with records, whatever the library underneath -----------------------------
# Code outside pipeline.models and pipeline.wire uses these (and pipeline.wire.encode/decode) instead of
# library functions, so that the record library stays a detail of these two modules.

R = TypeVar("R", bound=_Data)


def replace(record: R, **changes: Any) -> R:
    """A copy of ``record`` with ``changes``.  Not validated, like a constructor call: the values
    must already be right.  An unknown field name is a TypeError."""
    return msgspec.structs.replace(record, **changes)


def to_builtins(record: _Data) -> dict[str, Any]:
    """The record as JSON-ready builtins (datetimes as RFC 3339 strings), as on the wire."""
    return msgspec.to_builtins(record)


def field_names(record_type: type[_Data]) -> tuple[str, ...]:
    """The record's field names, in the schema's order."""
    return record_type.__struct_fields__


def from_builtins(record_type: type[R], value: Mapping[str, Any], *, encoding: str | None = None) -> R:
    """A record from builtins (as ``to_builtins`` returns, decoded JSON, or datetimes as datetime
    objects), validated as ``pipeline.wire.decode`` validates JSON: unknown fields are ignored,
    wrong types and broken constraints are a WireError naming each bad field (``encoding``, when
    given, says where the value came from in that message: "JSON", "Avro")."""
    try:
        return msgspec.convert(value, record_type, strict=True)
    except msgspec.ValidationError as exc:
        # Imported here: pipeline.wire imports this module.
        from pipeline.wire.errors import WireError
        from pipeline.wire.problems import describe

        raise WireError(describe(record_type, encoding, exc, value)) from None
