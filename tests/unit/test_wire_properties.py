"""Properties of the JSON codec over random records of every type.

- decode(encode(x)) == x, and the Avro path gives the same record;
- what the encoder writes is the Avro contract's JSON mapping: every schema field in order, the
  schema's types and ranges, timestamps as RFC 3339 in UTC; fastavro's full validation accepts the
  value it maps to, and that value is the record's own Avro value.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from fastavro.validation import validate as avro_validate

from pipeline import models, wire
from pipeline.wire import avro

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What our writers write (docs/wire-format.md): UTC, six fraction digits unless the fraction is 0.
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")

texts = st.text(max_size=12)
labels = st.dictionaries(texts, texts, max_size=4)
# Whole seconds often (the zero fraction the encoder writes without digits), any microsecond else.
utc_times = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0)),
)
# Offsets as decoded from someone else's JSON: kept, and equal as instants (years kept clear of
# the ends of the range, where an offset would leave UTC's).
offset_times = st.builds(
    lambda t, minutes: t.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
fingerprints = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)


def record_strategies(times):
    alerts = st.builds(
        models.Alert, fingerprint=fingerprints, labels=labels, annotations=labels,
        starts_at=times, ends_at=st.none() | times, generator_url=texts,
        status=st.sampled_from(["firing", "resolved"]), updated_at=times, timeout=st.booleans(),
    )
    envelope = dict(source=texts, source_format=texts, received_at=times)
    classifications = st.builds(
        models.Classification, priority=st.sampled_from(["P0", "P1", "P2", "P3", "P4"]),
        category=texts, team=texts, tags=st.lists(texts, max_size=3), auto_incident=st.booleans(),
        classified_by=st.sampled_from(["rules", "llm"]),
        confidence=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        reason=st.none() | texts,
    )
    routes = st.builds(models.RouteMatch, receiver=texts, route_key=texts, group_key=texts,
                       group_labels=labels)
    changes = st.none() | st.sampled_from(["new", "updated", "resolved", "expired"])
    return {
        "Alert": alerts,
        "RawAlert": st.builds(
            models.RawAlert, labels=labels, annotations=labels, starts_at=st.none() | times,
            ends_at=st.none() | times, generator_url=st.none() | texts, status=st.none() | texts,
            fingerprint=st.none() | texts, **envelope,
        ),
        "AlertEvent": st.builds(models.AlertEvent, alert=alerts, change=changes, **envelope),
        "EnrichedAlert": st.builds(
            models.EnrichedAlert, alert=alerts, change=changes,
            classification=st.none() | classifications,
            links=st.lists(st.builds(models.Link, title=texts, url=texts), max_size=2),
            enrichment_errors=st.lists(texts, max_size=2), routes=st.lists(routes, max_size=2),
            silenced_by=st.lists(texts, max_size=2), inhibited_by=st.lists(texts, max_size=2),
            state=st.sampled_from(["active", "suppressed", "unprocessed"]), **envelope,
        ),
        "Notification": st.builds(
            models.Notification, id=texts, receiver=texts,
            status=st.sampled_from(["firing", "resolved"]), group_key=texts, group_labels=labels,
            common_labels=labels, common_annotations=labels, external_url=texts,
            truncated_alerts=st.integers(0, 2**31 - 1), alerts=st.lists(alerts, max_size=3),
            flush_seq=st.integers(0, 2**63 - 1), created_at=times, route_key=texts,
            integration=texts,
        ),
        "DeliveryOutcome": st.builds(
            models.DeliveryOutcome, notification_id=texts, receiver=texts, integration=texts, group_key=texts,
            outcome=st.sampled_from(["delivered", "retrying", "dead_lettered", "duplicate_skipped"]),
            attempt=st.integers(1, 2**31 - 1), error=texts, at=times, retry_tier=texts,
            status_code=st.none() | st.integers(0, 2**31 - 1),
        ),
        "Silence": st.builds(
            models.Silence, id=texts,
            matchers=st.lists(st.builds(models.Matcher, name=texts, value=texts,
                                        is_regex=st.booleans(), is_equal=st.booleans()), max_size=3),
            starts_at=times, ends_at=times, updated_at=times, created_by=texts, comment=texts,
        ),
    }


UTC_RECORDS = record_strategies(utc_times)
OFFSET_RECORDS = record_strategies(offset_times)
assert set(UTC_RECORDS) == set(models.RECORD_MODELS)
ANY_UTC_RECORD = st.one_of(*UTC_RECORDS.values())
ANY_OFFSET_RECORD = st.one_of(*OFFSET_RECORDS.values())


@PROPERTIES
@given(ANY_UTC_RECORD)
def test_decode_of_encode_is_the_record(record):
    record_class = type(record)
    data = wire.encode(record)
    assert wire.decode(record_class, data) == record
    assert wire.encode(wire.decode(record_class, data)) == data  # byte for byte
    assert wire.decode(record_class, wire.encode_avro(record)) == record
    assert models.from_builtins(record_class, models.to_builtins(record)) == record


@PROPERTIES
@given(ANY_OFFSET_RECORD)
def test_records_holding_offsets_round_trip_as_the_same_instants(record):
    record_class = type(record)
    assert wire.decode(record_class, wire.encode(record)) == record
    assert wire.decode(record_class, wire.encode_avro(record)) == record


@PROPERTIES
@given(ANY_UTC_RECORD)
def test_the_json_written_is_the_avro_contracts(record):
    codec = avro.default_codec()
    writer = codec.current(record.avro_record)
    value = json.loads(wire.encode(record))
    datum = avro_datum(writer.parsed, value, writer.parsed["__named_schemas"], record.avro_record)
    assert avro_validate(datum, writer.parsed, raise_errors=True)
    assert datum == record.to_avro()
    assert codec.decode(codec.encode(record.avro_record, datum, validate=True)) == (
        record.avro_record, record.to_avro())


_SCALARS = {"string": (str,), "boolean": (bool,), "int": (int,), "long": (int,), "double": (int, float)}
_RANGES = {"int": 2**31, "long": 2**63}


def avro_datum(schema, value, names, where):
    """The Avro value a JSON value maps to under the contract's JSON mapping
    (docs/wire-format.md), asserting the mapping on the way."""
    if isinstance(schema, str):
        schema = names.get(schema, schema)
    if isinstance(schema, list):  # ["null", T]
        if value is None:
            assert "null" in schema, f"{where}: null where the schema has no null"
            return None
        (branch,) = [branch for branch in schema if branch != "null"]
        return avro_datum(branch, value, names, where)
    if isinstance(schema, dict):
        kind = schema["type"]
        if schema.get("logicalType") == "timestamp-micros":
            assert isinstance(value, str) and RFC3339_UTC.fullmatch(value), f"{where}: {value!r}"
            return datetime.fromisoformat(value)
        if kind == "record":
            names_in_order = [field["name"] for field in schema["fields"]]
            assert isinstance(value, dict) and list(value) == names_in_order, where
            return {field["name"]: avro_datum(field["type"], value[field["name"]], names,
                                              f"{where}.{field['name']}")
                    for field in schema["fields"]}
        if kind == "array":
            assert isinstance(value, list), where
            return [avro_datum(schema["items"], item, names, f"{where}[]") for item in value]
        if kind == "map":
            assert isinstance(value, dict), where
            return {key: avro_datum(schema["values"], item, names, f"{where}{{}}")
                    for key, item in value.items()}
        return avro_datum(kind, value, names, where)
    assert isinstance(value, _SCALARS[schema]) and (schema == "boolean") == isinstance(value, bool), (
        f"{where}: {type(value).__name__} for {schema}")
    if schema in _RANGES:
        assert -_RANGES[schema] <= value < _RANGES[schema], where
    return float(value) if schema == "double" else value
