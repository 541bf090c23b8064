"""normalize: raw alerts → normalized alert events, or a dead letter with the reason.

Raw records come from the bridge (JSON RawAlert) and from direct producers (JSON with snake_case or
Alertmanager camelCase keys, or Avro single-object RawAlert). The rules are the bridge's own
(pipeline.ingest.normalize); a record that breaks them, or is not an alert at all, is dead-lettered
with its original bytes and never stops the stage.

Relabel rules of the classification file (pipeline.classification.relabel) run on the raw labels first,
so the fingerprint covers the relabeled labels; an alert a keep/drop rule removes is counted
(``pipeline_relabel_dropped_alerts_total``), not dead-lettered: it was readable, just unwanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from pipeline import wire
from pipeline.alertmanager_config import global_resolve_timeout
from pipeline.classification.relabel import DroppedAlert, RelabelRule, relabel
from pipeline.dead_letters import Rejected
from pipeline.ingest.errors import InvalidAlert
from pipeline.ingest.normalize import normalize, raw_in_utc
from pipeline.models import AlertEvent, RawAlert, field_names, from_builtins, replace
from pipeline.stages.processor import Emit, Processor, Record

DIRECT_SOURCE = "direct"
# Direct producers may use the Alertmanager API's camelCase names; both spellings are accepted.
CAMEL_CASE_KEYS = {"startsAt": "starts_at", "endsAt": "ends_at", "generatorURL": "generator_url",
                   "sourceFormat": "source_format", "receivedAt": "received_at"}
RAW_ALERT_FIELDS = frozenset(field_names(RawAlert))


@dataclass(frozen=True)
class Normalized:
    key: bytes
    event: AlertEvent


def normalize_record(
    value: bytes | None, *, timestamp: datetime, resolve_timeout: timedelta, max_bytes: int,
    relabel_rules: tuple[RelabelRule, ...] = (),
) -> Normalized | Rejected | DroppedAlert:
    """One raw record to its normalized form, the relabel rule that dropped it, or the reason it
    cannot be one. Pure."""
    if value is None:
        return Rejected("EmptyRecord", "record has no value (tombstone)")
    if len(value) > max_bytes:
        return Rejected("RecordTooLarge", f"record is {len(value)} bytes, the limit is {max_bytes}")
    try:
        raw = _raw_alert(value, timestamp)
        if relabel_rules:
            labels = relabel(raw.labels, relabel_rules)
            if isinstance(labels, DroppedAlert):
                return labels
            raw = replace(raw, labels=labels)
        alert = normalize(raw, resolve_timeout)
    except (wire.WireError, InvalidAlert) as exc:
        return Rejected(type(exc).__name__, str(exc))
    event = AlertEvent(alert=alert, source=raw.source, source_format=raw.source_format,
                       received_at=raw.received_at)
    return Normalized(alert.fingerprint.encode(), event)


def _raw_alert(value: bytes, timestamp: datetime) -> RawAlert:
    if value[:2] == wire.AVRO_MAGIC:
        return raw_in_utc(wire.decode(RawAlert, value))
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise wire.WireError(f"not JSON and not an Avro single-object record: {exc}") from None
    if not isinstance(document, dict):
        raise wire.WireError(f"expected a JSON object (one alert), got {type(document).__name__}")
    fields: dict[str, Any] = {}
    for key, item in document.items():
        name = CAMEL_CASE_KEYS.get(key, key)
        if name in RAW_ALERT_FIELDS:  # unknown keys from direct producers are ignored, like the API
            fields[name] = item
    fields.setdefault("source", DIRECT_SOURCE)
    fields.setdefault("source_format", DIRECT_SOURCE)
    if fields.get("received_at") is None:
        fields["received_at"] = timestamp  # the broker's timestamp is when the alert was received
    return raw_in_utc(from_builtins(RawAlert, fields))


class NormalizeProcessor(Processor):
    """Reads its input undecoded: validating what producers wrote is this stage's job."""

    STAGE = "normalize"
    OUTPUTS = ("normalized",)
    RAW_INPUT = True

    def __init__(self, *, resolve_timeout: timedelta, max_bytes: int, relabel_rules: tuple[RelabelRule, ...] = ()):
        self.resolve_timeout = resolve_timeout
        self.max_bytes = max_bytes
        self.relabel_rules = relabel_rules

    @classmethod
    def from_settings(cls, settings, topology) -> NormalizeProcessor:
        from pipeline.classification.config import load_for_worker

        # Checked before the worker joins its group: a broken file stops it with the key path.
        relabel_rules = load_for_worker(settings.classification.rules_file, cls.STAGE).relabel
        return cls(resolve_timeout=global_resolve_timeout(settings.alertmanager_config),
                   max_bytes=settings.max_record_bytes, relabel_rules=relabel_rules)

    def process(self, record: Record, state, now: datetime):
        # The broker's timestamp is when a direct producer's alert was received.
        received = datetime.fromtimestamp(record.timestamp, timezone.utc) if record.timestamp else now
        outcome = normalize_record(record.value, timestamp=received, resolve_timeout=self.resolve_timeout,
                                   max_bytes=self.max_bytes, relabel_rules=self.relabel_rules)
        if isinstance(outcome, Normalized):
            return (Emit("normalized", outcome.key, outcome.event),)
        if isinstance(outcome, DroppedAlert):
            from pipeline.classification.metrics import RELABEL_DROPPED

            RELABEL_DROPPED.labels(rule=f"{outcome.rule_index}:{outcome.action}").inc()
            return ()
        return outcome
