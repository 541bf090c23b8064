"""Wire format (JSON, Avro accepted), error contract, and the schema evolution rule."""

import copy
import io
import json
import re
import string
from datetime import datetime, timedelta, timezone

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import models, wire
from pipeline.models import field_names, replace, to_builtins
from pipeline.wire import WireError, avro, contract, evolution
from pipeline.wire.__main__ import dump, main
from pipeline.wire.examples import fixture_examples

EXAMPLES = fixture_examples()
AVRO_FIXTURES = sorted((evolution.FIXTURES_DIR / "avro").glob("*.bin"))
JSON_FIXTURES = sorted((evolution.FIXTURES_DIR / "json").glob("*.json"))
FREEZE_HINT = "run `python -m pipeline.wire freeze` and commit schemas/history/ and tests/fixtures/"
# What our writers write: UTC, six fraction digits unless the fraction is zero (docs/wire-format.md).
RFC3339_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$"
NO_OFFSET = "expected an RFC 3339 timestamp with an offset"
UTC = timezone.utc
CEST = timezone(timedelta(hours=2))


def model_of(path):
    return models.RECORD_MODELS[path.name.split(".")[0]]


# --- JSON on the wire ---------------------------------------------------------


@pytest.mark.parametrize("record", sorted(EXAMPLES))
def test_json_is_a_compact_utf8_object_of_the_model_fields(record):
    example = EXAMPLES[record]
    data = wire.encode(example)
    value = json.loads(data.decode("utf-8"))
    assert list(value) == list(field_names(type(example)))
    assert b"\n" not in data and b'": ' not in data


def test_timestamps_are_rfc3339_utc_with_microseconds():
    value = json.loads(wire.encode(EXAMPLES["Alert"]))
    assert value["starts_at"] == "2024-05-01T12:00:00.123456Z"
    assert value["ends_at"] == "2024-05-01T13:00:00.123456Z"


@pytest.mark.parametrize(
    ("when", "on_the_wire"),
    [
        (datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00Z"),  # zero fraction: no digits
        (datetime(2024, 5, 1, 12, 0, 0, 500000, UTC), "2024-05-01T12:00:00.500000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 1, UTC), "2024-05-01T12:00:00.000001Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),  # Go's zero time
    ],
)
def test_timestamps_on_the_wire(when, on_the_wire):
    alert = replace(EXAMPLES["Alert"], starts_at=when)
    data = wire.encode(alert)
    assert json.loads(data)["starts_at"] == on_the_wire
    assert re.match(RFC3339_UTC, on_the_wire)
    decoded = wire.decode(models.Alert, data)
    assert decoded.starts_at == when and decoded.starts_at.utcoffset() == timedelta(0)


def test_a_timestamp_with_an_offset_is_written_as_held():
    # Our writers hold UTC (the edges convert: pipeline.ingest); a record given another offset in
    # code is written with that offset, and reads back as the same instant.
    alert = replace(EXAMPLES["Alert"], starts_at=datetime(2024, 5, 1, 14, tzinfo=CEST))
    data = wire.encode(alert)
    assert json.loads(data)["starts_at"] == "2024-05-01T14:00:00+02:00"
    assert wire.decode(models.Alert, data) == alert


@pytest.mark.parametrize(
    ("written", "read", "offset"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC), 0),
        ("2024-05-01T12:00:00.000000Z", datetime(2024, 5, 1, 12, tzinfo=UTC), 0),  # older writers
        ("2024-05-01T12:00:00.123Z", datetime(2024, 5, 1, 12, 0, 0, 123000, UTC), 0),
        ("2024-05-01T12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC), 0),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC), 2),  # kept as written
        # Finer than the microsecond: rounded to the nearest one.
        ("2024-05-01T12:00:00.123456789Z", datetime(2024, 5, 1, 12, 0, 0, 123457, UTC), 0),
    ],
)
def test_any_rfc3339_timestamp_is_read(written, read, offset):
    value = json.loads(wire.encode(EXAMPLES["Alert"])) | {"starts_at": written}
    alert = wire.decode(models.Alert, json.dumps(value).encode())
    assert alert.starts_at == read and alert.starts_at.utcoffset() == timedelta(hours=offset)
    assert wire.decode(models.Alert, wire.encode(alert)) == alert
    if offset == 0:
        assert re.match(RFC3339_UTC, json.loads(wire.encode(alert))["starts_at"])


def test_an_offset_outside_utc_range_decodes_and_the_edge_rejects_it():
    # 9999-12-31T23:59:59-01:00 is 10000-01-01 in UTC: valid RFC 3339, not a UTC datetime. Decoding
    # keeps the offset (internal hops carry what our writers wrote, always UTC); the edge where
    # direct producers come in (the normalize stage) converts to UTC and rejects it by name.
    from pipeline.ingest.errors import InvalidAlert
    from pipeline.ingest.normalize import raw_in_utc

    value = json.loads(wire.encode(EXAMPLES["RawAlert"])) | {"starts_at": "9999-12-31T23:59:59-01:00"}
    raw = wire.decode(models.RawAlert, json.dumps(value).encode())
    assert raw.starts_at.utcoffset() == timedelta(hours=-1)
    with pytest.raises(InvalidAlert, match="^starts_at is out of range in UTC$"):
        raw_in_utc(raw)


def test_non_ascii_stays_utf8():
    annotations = {"summary": "Größe ≥ 2"}
    alert = replace(EXAMPLES["Alert"], annotations=annotations)
    data = wire.encode(alert)
    assert "Größe ≥ 2".encode() in data
    assert wire.decode(models.Alert, data) == alert


def test_unknown_fields_from_a_newer_writer_are_ignored_at_every_level():
    value = json.loads(wire.encode(EXAMPLES["EnrichedAlert"]))
    value["severity_v2"] = "critical"
    value["alert"]["labels_hash"] = 42
    value["classification"]["model"] = {"name": "x"}
    value["routes"][0]["weight"] = 0.5
    decoded = wire.decode(models.EnrichedAlert, json.dumps(value).encode())
    assert decoded == EXAMPLES["EnrichedAlert"]


def test_models_built_in_code_still_reject_unknown_fields():
    alert = EXAMPLES["Alert"]
    fields = {name: getattr(alert, name) for name in field_names(models.Alert)}
    with pytest.raises(TypeError, match="Unexpected keyword argument 'severity'"):
        models.Alert(**fields, severity="critical")
    with pytest.raises(TypeError, match="Unexpected keyword argument 'urll'"):
        models.Link(title="t", url="u", urll="typo")
    with pytest.raises(TypeError, match="no field 'stat'"):
        replace(alert, stat="firing")


def test_fields_with_defaults_may_be_omitted_by_writers():
    value = json.loads(wire.encode(EXAMPLES["AlertEvent"]))
    decoded = wire.decode(models.EnrichedAlert, json.dumps(value).encode())
    assert decoded.state == "unprocessed" and decoded.routes == []
    assert decoded.classification is None


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("timeout", "true", "timeout: expected a boolean, got string$"),
        ("timeout", 1, "timeout: expected a boolean, got number$"),
        ("status", "pending", "status: must be 'firing' or 'resolved'$"),
        ("starts_at", 1714564800, "starts_at: expected an RFC 3339 timestamp, got number$"),
        ("starts_at", "2024-05-01T12:00:00", f"starts_at: {NO_OFFSET}"),
        ("starts_at", "yesterday", "starts_at: not an RFC 3339 timestamp"),
        ("labels", {"port": 9100}, "labels.port: expected a string, got number$"),
        ("labels", ["a"], "labels: expected an object, got array$"),
        ("fingerprint", "not-hex", "fingerprint: must be a string of length >= 16$"),
        ("fingerprint", "0123456789abcdeg", r"fingerprint: must match \^\[0-9a-f\]\{16\}\$$"),
        ("fingerprint", "0123456789abcdef\n", "fingerprint: must be a string of length <= 16$"),
        ("fingerprint", None, "fingerprint: expected a string, got null$"),
    ],
)
def test_json_types_are_the_schemas(field, value, problem):
    record = json.loads(wire.encode(EXAMPLES["Alert"])) | {field: value}
    with pytest.raises(WireError, match=f"^invalid Alert JSON record: {problem}"):
        wire.decode(models.Alert, json.dumps(record).encode())


@pytest.mark.parametrize(
    ("field", "number", "problem"),
    [
        ("flush_seq", 2**63, "must be <= 9223372036854775807"),
        ("flush_seq", 2**70, "must be <= 9223372036854775807"),
        ("flush_seq", -1, "must be >= 0"),
        ("truncated_alerts", 2**31, "must be <= 2147483647"),
        ("truncated_alerts", -1, "must be >= 0"),
        ("flush_seq", 1.5, "expected an integer, got number"),
        ("flush_seq", 7.0, "expected an integer, got number"),
    ],
)
def test_numbers_out_of_the_schema_range_are_rejected(field, number, problem):
    value = json.loads(wire.encode(EXAMPLES["Notification"])) | {field: number}
    with pytest.raises(WireError, match=f"^invalid Notification JSON record: {field}: {problem}$"):
        wire.decode(models.Notification, json.dumps(value).encode())


def test_a_5000_digit_number_is_rejected():
    seven = b'"flush_seq":7'
    data = wire.encode(EXAMPLES["Notification"]).replace(seven, seven + b"0" * 5000)
    with pytest.raises(WireError, match="^invalid Notification JSON record: flush_seq: number out of range$"):
        wire.decode(models.Notification, data)


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_tokens_are_not_json(number):
    confidence = b'"confidence":'
    data = wire.encode(EXAMPLES["EnrichedAlert"]).replace(confidence + b"0.87", confidence + number)
    assert number in data
    with pytest.raises(WireError, match="^EnrichedAlert value is not valid JSON: JSON is malformed"):
        wire.decode(models.EnrichedAlert, data)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400"])
def test_numbers_beyond_a_double_are_rejected(number):
    confidence = b'"confidence":'
    data = wire.encode(EXAMPLES["EnrichedAlert"]).replace(confidence + b"0.87", confidence + number)
    with pytest.raises(WireError, match="classification.confidence: number out of range$"):
        wire.decode(models.EnrichedAlert, data)


@pytest.mark.parametrize("confidence", [float("nan"), float("inf")])
def test_non_finite_floats_from_avro_are_rejected(confidence):
    value = EXAMPLES["EnrichedAlert"].to_avro()
    value["classification"]["confidence"] = confidence
    data = avro.default_codec().encode("EnrichedAlert", value)
    with pytest.raises(WireError, match="^invalid EnrichedAlert Avro record: classification.confidence: "
                                        "must be a finite number$"):
        wire.decode(models.EnrichedAlert, data)


def test_decode_accepts_bytearray_and_memoryview():
    for data in (wire.encode(EXAMPLES["Silence"]), wire.encode_avro(EXAMPLES["Silence"])):
        expected = wire.decode(models.Silence, data)
        assert wire.decode(models.Silence, bytearray(data)) == expected
        assert wire.decode(models.Silence, memoryview(data)) == expected


def test_a_wrongly_typed_value_written_by_a_bug_is_rejected_by_the_next_reader():
    # Constructors and replace() do not validate (values are checked where they come in), so the
    # JSON writer writes what the record holds; every reader validates, and names the field.
    broken = replace(EXAMPLES["Alert"], labels={"port": 9100})
    with pytest.raises(WireError, match="^invalid Alert JSON record: labels.port: expected a string"):
        wire.decode(models.Alert, wire.encode(broken))
    with pytest.raises(WireError, match="Alert value does not match schema"):
        wire.encode_avro(broken)


def test_encode_refuses_what_it_cannot_write():
    with pytest.raises(WireError, match="^cannot encode Alert as JSON: "):
        wire.encode(replace(EXAMPLES["Alert"], labels={"port": object()}))
    with pytest.raises(WireError, match="^cannot encode Alert as JSON: "):
        wire.encode(replace(EXAMPLES["Alert"], labels={"lone": "\ud800"}))
    for not_a_record in ({"labels": {}}, models.Link(title="t", url="u")):
        with pytest.raises(WireError, match="not a wire record"):
            wire.encode(not_a_record)
        with pytest.raises(WireError, match="not a wire record"):
            wire.encode_avro(not_a_record)


def test_decode_needs_a_record_type():
    with pytest.raises(TypeError, match="not a wire record type"):
        wire.decode(models.Link, b"{}")


# --- Avro single-object records ---------------------------------------------------


@pytest.mark.parametrize("record", sorted(EXAMPLES))
def test_avro_header_is_single_object_encoding(record):
    data = wire.encode_avro(EXAMPLES[record])
    writer = avro.default_codec().current(record)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == writer.fingerprint == contract.schema_fingerprint(writer.schema)
    # The body is plain schemaless Avro, readable by any Avro library.
    assert (
        fastavro.schemaless_reader(io.BytesIO(data[10:]), writer.schema)
        == EXAMPLES[record].to_avro()
    )


def test_avro_record_of_another_type_is_rejected():
    with pytest.raises(WireError, match="expected a Silence record, got a Alert record"):
        wire.decode(models.Silence, wire.encode_avro(EXAMPLES["Alert"]))


def test_avro_value_the_model_rejects_is_a_wire_error():
    # Valid for the schema (status is a string), invalid for the model.
    value = EXAMPLES["Alert"].to_avro() | {"status": "pending"}
    data = avro.default_codec().encode("Alert", value)
    with pytest.raises(WireError, match="^invalid Alert Avro record: status: must be 'firing' or 'resolved'$"):
        wire.decode(models.Alert, data)


# The Avro codec itself (kept for producers and consumers that use Avro).


@pytest.mark.parametrize("record", sorted(EXAMPLES))
def test_avro_codec_dict_round_trip(record):
    value = EXAMPLES[record].to_avro()
    codec = avro.default_codec()
    assert codec.decode(codec.encode(record, value)) == (record, value)


def test_avro_codec_accepts_a_model_for_its_own_record():
    codec, alert = avro.default_codec(), EXAMPLES["Alert"]
    assert codec.encode("Alert", alert) == wire.encode_avro(alert)
    with pytest.raises(WireError, match="cannot encode a Alert record as record Silence"):
        codec.encode("Silence", alert)


# Avro's published CRC-64-AVRO vectors (share/test/data/schema-tests.txt),
# given there as signed Java longs and stored on the wire little-endian.
@pytest.mark.parametrize(
    ("schema", "java_long"),
    [
        ("null", 7195948357588979594),
        ("boolean", -6970731678124411036),
        (
            {"type": "record", "name": "foo", "fields": [{"name": "f1", "type": "boolean"}]},
            7843277075252814651,
        ),
    ],
)
def test_schema_fingerprint_matches_avro_test_vectors(schema, java_long):
    assert contract.schema_fingerprint(schema) == java_long.to_bytes(8, "little", signed=True)


def test_unknown_record_name():
    codec = avro.default_codec()
    with pytest.raises(WireError, match="unknown record 'Alrt'"):
        codec.encode("Alrt", {})
    with pytest.raises(WireError, match="unknown record 'Alrt'"):
        codec.decode_as("Alrt", wire.encode_avro(EXAMPLES["Alert"]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.pop("labels"), "labels"),
        (lambda v: v.update(severity="critical"), "more fields than the schema"),
        (lambda v: v.update(status=1), "must be string"),
        (lambda v: v.update(starts_at="yesterday"), "starts_at"),
        (lambda v: v["labels"].update(port=9100), "labels"),
    ],
)
def test_avro_codec_rejects_values_that_do_not_match_the_schema(change, message):
    value = copy.deepcopy(EXAMPLES["Alert"].to_avro())
    change(value)
    with pytest.raises(WireError, match=f"Alert value does not match schema: .*{message}"):
        avro.default_codec().encode("Alert", value)


def test_avro_codec_fills_missing_fields_that_have_defaults():
    codec, value = avro.default_codec(), EXAMPLES["Alert"].to_avro()
    for optional in ("annotations", "ends_at", "generator_url", "timeout"):
        del value[optional]
    decoded = codec.decode_as("Alert", codec.encode("Alert", value))
    assert decoded["annotations"] == {} and decoded["ends_at"] is None
    assert decoded["timeout"] is False


def test_avro_validate_option_catches_what_the_writer_lets_through():
    codec, value = avro.default_codec(), EXAMPLES["Alert"].to_avro() | {"timeout": "yes"}
    codec.encode("Alert", value)  # the writer alone writes any truthy value as true
    with pytest.raises(WireError, match="timeout"):
        codec.encode("Alert", value, validate=True)


# --- errors: always WireError, with a message that names the problem --------------


def good_avro(record="Alert"):
    return wire.encode_avro(EXAMPLES[record])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "no Alert value: None is a Kafka tombstone"),
        ("{}", "expected bytes, got str"),
        (b"", "empty Alert value: 0 bytes"),
        (b"   ", "Alert value is neither JSON nor Avro (no magic c301): Input data was truncated"),
        (b"\x00\x01\x02", "neither JSON nor Avro (no magic c301): JSON is malformed: invalid character"),
        (b'{"labels": {}', "Alert value is not valid JSON: Input data was truncated"),
        (b"[]", "Alert JSON record must be an object, got array"),
        (b"null", "Alert JSON record must be an object, got null"),
        (b"42", "Alert JSON record must be an object, got number"),
        (b"{}", "invalid Alert JSON record: fingerprint: field required; labels: field required"),
        (b'{"labels": {"\xff": "x"}}', "not valid JSON: Invalid UTF-8"),
        (b'{"a": "\\ud800"}', "not valid JSON: "),  # lone surrogate
        pytest.param(b"[" * 100_000, "Alert JSON record must be an object, got array", id="deep-array"),
        pytest.param(b'{"a":' * 100_000, "not valid JSON: recursion limit", id="deep-object"),
        (b"\xc3\x01\x00", "too short: 3 bytes"),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", "unknown writer schema fingerprint 0000000000000000"),
        (good_avro()[:-1], "truncated or corrupt Alert body"),
        (good_avro() + b"\x00", "1 bytes after the body"),
    ],
)
def test_decode_errors_name_the_problem(data, message):
    with pytest.raises(WireError, match=message.replace("(", r"\(").replace(")", r"\)")):
        wire.decode(models.Alert, data)


def test_many_problems_are_summarized():
    with pytest.raises(WireError) as info:
        wire.decode(models.Notification, b"{}")
    assert str(info.value).endswith("; and 2 more") and "\n" not in str(info.value)


def test_huge_values_are_named_not_echoed():
    huge = "x" * 1_000_000
    value = json.loads(wire.encode(EXAMPLES["Alert"])) | {"status": huge, "starts_at": huge}
    with pytest.raises(WireError) as info:
        wire.decode(models.Alert, json.dumps(value).encode())
    assert len(str(info.value)) < 500


def test_huge_but_valid_values_decode():
    labels = {f"label_{i}": "v" * 1000 for i in range(1000)}
    alert = replace(EXAMPLES["Alert"], labels=labels)
    for data in (wire.encode(alert), wire.encode_avro(alert)):
        assert wire.decode(models.Alert, data).labels == labels


FIXTURE_BYTES = [path.read_bytes() for path in AVRO_FIXTURES] + [
    wire.encode(wire.decode(model_of(path), path.read_bytes())) for path in JSON_FIXTURES
]
AVRO_HEADERS = [path.read_bytes()[:10] for path in AVRO_FIXTURES]
RECORD_MODELS = st.sampled_from(sorted(models.RECORD_MODELS.values(), key=lambda m: m.__name__))


def decode_or_wire_error(model_class, data: bytes) -> None:
    try:
        wire.decode(model_class, data)
    except WireError:
        pass  # anything else propagates and fails the test


ROBUSTNESS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
FIELD_NAMES = st.sampled_from(
    sorted({name for model in models.RECORD_MODELS.values() for name in field_names(model)})
) | st.text(string.ascii_lowercase, max_size=8)


@ROBUSTNESS
@given(RECORD_MODELS, st.binary(max_size=600))
def test_random_bytes_only_raise_wire_error(model_class, data):
    decode_or_wire_error(model_class, data)


@ROBUSTNESS
@given(RECORD_MODELS, st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=12))
def test_random_json_objects_only_raise_wire_error(model_class, value):
    decode_or_wire_error(model_class, json.dumps(value).encode())


OFFSETS = st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23))
TIMESTAMPS = st.builds(
    lambda when, offset: when.replace(tzinfo=timezone(offset)).isoformat(),
    st.datetimes(),
    OFFSETS.map(lambda offset: timedelta(minutes=offset // timedelta(minutes=1))),
)
FIXTURE_VALUES = [(model_of(path), json.loads(path.read_bytes())) for path in JSON_FIXTURES]


@ROBUSTNESS
@given(st.sampled_from(FIXTURE_VALUES), st.data())
def test_mutated_json_records_raise_wire_error_or_fit_the_contract(fixture, draw):
    model_class, value = fixture
    value = copy.deepcopy(value)
    node = value
    for _ in range(draw.draw(st.integers(0, 3))):
        children = node.values() if isinstance(node, dict) else node
        children = [child for child in children if isinstance(child, (dict, list)) and child]
        if not children:
            break
        node = draw.draw(st.sampled_from(children))
    replacement = draw.draw(JSON_VALUES | TIMESTAMPS | st.integers(-(2**70), 2**70))
    if isinstance(node, dict):
        node[draw.draw(st.sampled_from(sorted(node)) | FIELD_NAMES)] = replacement
    else:
        node[draw.draw(st.integers(0, len(node) - 1))] = replacement
    try:
        decoded = wire.decode(model_class, json.dumps(value).encode())
    except WireError:
        return
    # Whatever the JSON wire accepts, JSON carries unchanged, and so does Avro unless a timestamp
    # with an offset is not representable in UTC (Avro's timestamp-micros), which it refuses.
    assert wire.decode(model_class, wire.encode(decoded)) == decoded
    try:
        avro_data = wire.encode_avro(decoded)
    except WireError as exc:
        assert "is out of range in UTC" in str(exc)
        assert out_of_utc_range(decoded.to_avro())
        return
    assert wire.decode(model_class, avro_data) == decoded


def out_of_utc_range(value) -> bool:
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except OverflowError:
            return True
        return False
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(out_of_utc_range(item) for item in items)


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_avro_refuses_a_time_not_representable_in_utc(when):
    value = json.loads(wire.encode(EXAMPLES["Notification"]))
    value["alerts"][0]["ends_at"] = when
    decoded = wire.decode(models.Notification, json.dumps(value).encode())
    with pytest.raises(WireError, match=r"^cannot encode Notification as Avro: alerts\[0\].ends_at is out "
                                        r"of range in UTC$"):
        wire.encode_avro(decoded)


@ROBUSTNESS
@given(RECORD_MODELS, st.sampled_from(AVRO_HEADERS), st.binary(max_size=600))
def test_random_bodies_behind_a_valid_avro_header_only_raise_wire_error(model_class, header, body):
    decode_or_wire_error(model_class, header + body)


@ROBUSTNESS
@given(RECORD_MODELS, st.sampled_from(FIXTURE_BYTES), st.data())
def test_bit_flips_only_raise_wire_error(model_class, data, draw):
    flips = draw.draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=4))
    corrupted = bytearray(data)
    for bit in flips:
        corrupted[bit // 8] ^= 1 << (bit % 8)
    decode_or_wire_error(model_class, bytes(corrupted))


@pytest.mark.parametrize("data", FIXTURE_BYTES, ids=lambda d: "avro" if d[:1] == b"\xc3" else "json")
def test_every_truncation_is_a_wire_error(data):
    for length in range(len(data)):
        for model_class in models.RECORD_MODELS.values():
            with pytest.raises(WireError):
                wire.decode(model_class, data[:length])


# --- the evolution rule --------------------------------------------------------------


def fixture_paths(record: str, fingerprint: str) -> list:
    stem = f"{record}.{fingerprint}"
    root = evolution.FIXTURES_DIR
    return [
        root / "avro" / f"{stem}.bin",
        root / "avro" / f"{stem}.json",
        root / "json" / f"{stem}.json",
    ]


def test_every_current_schema_is_frozen_with_fixtures():
    frozen = {contract.fingerprint_hex(schema) for schema in contract.load_history()}
    for record, schema in contract.load_schema_files().items():
        assert contract.fingerprint_hex(schema) in frozen, f"{record} schema changed: {FREEZE_HINT}"
        for path in fixture_paths(record, contract.fingerprint_hex(schema)):
            assert path.exists(), f"no fixture {path.name}: {FREEZE_HINT}"


def test_every_frozen_schema_has_fixtures():
    for schema in contract.load_history():
        for path in fixture_paths(contract.record_name(schema), contract.fingerprint_hex(schema)):
            assert path.exists(), f"no fixture {path.name}: {FREEZE_HINT}"


def test_current_schemas_read_every_frozen_schema():
    problems = evolution.evolution_problems(contract.load_schema_files(), contract.load_history())
    assert problems == []


@pytest.mark.parametrize("path", AVRO_FIXTURES, ids=lambda p: p.stem)
def test_every_avro_fixture_decodes_with_the_current_reader(path):
    record, fingerprint = path.stem.split(".")
    assert path.read_bytes()[2:10].hex() == fingerprint
    expected = json.loads(path.with_suffix(".json").read_text())
    found, value = avro.default_codec().decode(path.read_bytes())
    assert found == record
    reader = avro.default_codec().current(record).parsed
    # Fields added since the fixture was frozen must come back as their defaults.
    assert avro.to_jsonable(value) == with_defaults(expected, reader, reader["__named_schemas"])
    # ...and what old producers wrote must decode into the current model.
    assert wire.decode(model_of(path), path.read_bytes()) == model_of(path).from_avro(value)


@pytest.mark.parametrize("path", JSON_FIXTURES, ids=lambda p: p.stem)
def test_every_json_fixture_decodes_into_the_current_model(path):
    decoded = wire.decode(model_of(path), path.read_bytes())
    # Frozen from the same example: both encodings of a release read the same,
    # so schema defaults and model defaults agree for fields added later.
    avro_fixture = evolution.FIXTURES_DIR / "avro" / f"{path.stem}.bin"
    assert decoded == wire.decode(model_of(path), avro_fixture.read_bytes())


def with_defaults(expected, schema, names):
    """``expected`` (JSON of an older fixture) plus the reader's defaults for
    every field it lacks, recursively."""
    if isinstance(schema, str):
        schema = names.get(schema, schema)
    if isinstance(schema, list):
        if expected is None:
            return None
        branches = [branch for branch in schema if branch != "null"]
        assert len(branches) == 1, "only [null, T] unions are supported here"
        return with_defaults(expected, branches[0], names)
    if not isinstance(schema, dict):
        return expected
    kind = schema["type"]
    if kind == "record":
        return {
            field["name"]: with_defaults(expected[field["name"]], field["type"], names)
            if field["name"] in expected
            else default_as_json(field)
            for field in schema["fields"]
        }
    if kind == "array":
        return [with_defaults(item, schema["items"], names) for item in expected]
    if kind == "map":
        return {key: with_defaults(item, schema["values"], names) for key, item in expected.items()}
    return expected


def default_as_json(field):
    """The decoded form of a field default, as the fixture JSON writes values."""
    field_type = field["type"]
    if isinstance(field_type, dict) and field_type.get("logicalType") == "timestamp-micros":
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        return avro.to_jsonable(epoch + field["default"] * (datetime.resolution))
    return field["default"]


def test_history_files_cannot_be_edited(tmp_path):
    history = contract.load_history()[0]
    edited = copy.deepcopy(history)
    edited["fields"].append({"name": "sneaky", "type": "string", "default": ""})
    name = f"{contract.record_name(history)}.{contract.fingerprint_hex(history)}.json"
    (tmp_path / name).write_text(json.dumps(edited))
    with pytest.raises(wire.SchemaError, match="must not be edited"):
        contract.load_history(tmp_path)


# --- demonstrating the rule with an in-memory v2 -------------------------------------

V1_ALERT = contract.load_schema_files()["Alert"]


def alert_v2(new_field: dict) -> dict:
    v2 = copy.deepcopy(V1_ALERT)
    v2["fields"].append(new_field)
    return v2


def test_added_field_without_default_is_rejected():
    v2 = alert_v2({"name": "severity", "type": "string"})
    assert evolution.schema_incompatibilities(V1_ALERT, v2) == [
        "Alert.severity: field is not in the writer schema and has no default"
    ]


def test_added_field_with_default_is_accepted_and_old_records_read_with_it():
    v2 = alert_v2({"name": "severity", "type": "string", "default": "none"})
    assert evolution.schema_incompatibilities(V1_ALERT, v2) == []

    v2_codec = avro.Codec({"Alert": v2}, history=[V1_ALERT])
    v1_fixture = evolution.FIXTURES_DIR / "avro" / f"Alert.{contract.fingerprint_hex(V1_ALERT)}.bin"
    record, value = v2_codec.decode(v1_fixture.read_bytes())
    assert record == "Alert" and value["severity"] == "none"
    expected = json.loads(v1_fixture.with_suffix(".json").read_text())
    reader = v2_codec.current("Alert").parsed
    assert avro.to_jsonable(value) == with_defaults(expected, reader, reader["__named_schemas"])


def test_freeze_refuses_an_incompatible_schema_and_freezes_a_compatible_one(tmp_path):
    schema_dir, fixtures = tmp_path / "schemas", tmp_path / "fixtures"
    schema_dir.mkdir()
    (schema_dir / "Alert.avsc").write_text(json.dumps(V1_ALERT))
    written = evolution.freeze(schema_dir, fixtures_dir=fixtures)
    v1 = contract.fingerprint_hex(V1_ALERT)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        f"fixtures/avro/Alert.{v1}.bin",
        f"fixtures/avro/Alert.{v1}.json",
        f"fixtures/json/Alert.{v1}.json",
        f"schemas/history/Alert.{v1}.json",
    ]
    json_fixture = fixtures / "json" / f"Alert.{v1}.json"
    assert wire.decode(models.Alert, json_fixture.read_bytes()) == EXAMPLES["Alert"]
    assert evolution.freeze(schema_dir, fixtures_dir=fixtures) == []  # idempotent

    (schema_dir / "Alert.avsc").write_text(
        json.dumps(alert_v2({"name": "severity", "type": "string"}))
    )
    with pytest.raises(wire.SchemaError, match="Alert.severity: field is not in the writer"):
        evolution.freeze(schema_dir, fixtures_dir=fixtures)

    v2 = alert_v2({"name": "severity", "type": "string", "default": "none"})
    (schema_dir / "Alert.avsc").write_text(json.dumps(v2))
    written = evolution.freeze(schema_dir, fixtures_dir=fixtures)
    assert len(written) == 4
    both = avro.Codec.from_directory(schema_dir)
    assert {w.fingerprint_hex for w in both.writer_schemas()} == {
        contract.fingerprint_hex(V1_ALERT),
        contract.fingerprint_hex(v2),
    }


def field_type_change(name: str, new_type) -> dict:
    v2 = copy.deepcopy(V1_ALERT)
    for field in v2["fields"]:
        if field["name"] == name:
            field["type"] = new_type
            field.pop("default", None)
    return v2


@pytest.mark.parametrize(
    ("v2", "compatible"),
    [
        (field_type_change("status", ["null", "string"]), True),  # widen to nullable
        (field_type_change("status", "bytes"), True),  # string <-> bytes
        (field_type_change("status", "long"), False),
        # narrowing a nullable field
        (field_type_change("ends_at", {"type": "long", "logicalType": "timestamp-micros"}), False),
        (field_type_change("labels", {"type": "map", "values": ["null", "string"]}), True),
        (field_type_change("labels", {"type": "array", "items": "string"}), False),
        (
            {**V1_ALERT, "fields": [f for f in V1_ALERT["fields"] if f["name"] != "timeout"]},
            True,
        ),  # drop
        ({**V1_ALERT, "name": "Alarm"}, False),
    ],
)
def test_compatibility_follows_avro_resolution(v2, compatible):
    assert (evolution.schema_incompatibilities(V1_ALERT, v2) == []) is compatible


def test_numeric_promotion_is_compatible_and_demotion_is_not():
    def record(field_type):
        return {"type": "record", "name": "R", "fields": [{"name": "n", "type": field_type}]}

    assert evolution.schema_incompatibilities(record("int"), record("long")) == []
    assert evolution.schema_incompatibilities(record("long"), record("double")) == []
    assert evolution.schema_incompatibilities(record("long"), record("int")) != []


def test_nested_record_change_is_checked_through_references():
    # Notification holds an array of Alert; a breaking change to Alert breaks it.
    current = contract.load_schema_files()
    breaking = alert_v2({"name": "severity", "type": "string"})
    v2 = contract.expand_references(
        json.loads((contract.SCHEMAS_DIR / "Notification.avsc").read_text()),
        {"alertpipeline.Alert": breaking},
    )
    assert evolution.schema_incompatibilities(current["Notification"], v2) == [
        "Notification.alerts[].severity: field is not in the writer schema and has no default"
    ]


# --- schema files ------------------------------------------------------------------


@pytest.mark.parametrize("record", ["AlertEvent", "EnrichedAlert", "Notification"])
def test_shared_alert_is_inlined_once_and_self_contained(record):
    schema = contract.load_schema_files()[record]
    assert json.dumps(schema).count('"name": "Alert"') == 1
    fastavro.parse_schema(schema, named_schemas={})  # stands alone


def test_references_between_files_may_be_recursive():
    a = {"type": "record", "name": "A", "namespace": "x", "fields": [{"name": "b", "type": "x.B"}]}
    b = {
        "type": "record",
        "name": "B",
        "namespace": "x",
        "fields": [{"name": "a", "type": ["null", "x.A"], "default": None}],
    }
    expanded = contract.expand_references(a, {"x.A": a, "x.B": b})
    assert expanded["fields"][0]["type"]["fields"][0]["type"] == ["null", "x.A"]
    fastavro.parse_schema(expanded, named_schemas={})


# --- command line --------------------------------------------------------------------


def test_check_command_passes(capsys):
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith("ok: 7 current schemas")


@pytest.mark.parametrize(
    "path", AVRO_FIXTURES + JSON_FIXTURES, ids=lambda p: f"{p.parent.name}-{p.stem}"
)
def test_dump_command_names_the_record_of_either_encoding(path, capsys):
    assert main(["dump", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["record"] == path.name.split(".")[0]
    assert printed["encoding"] == path.parent.name
    assert wire.decode(model_of(path), json.dumps(printed["value"]).encode()) == wire.decode(
        model_of(path), path.read_bytes()
    )


def test_dump_reports_ignored_fields_and_accepts_a_record_name():
    value = json.loads(wire.encode(EXAMPLES["Silence"])) | {"expires": "never"}
    data = json.dumps(value).encode()
    assert dump(data)["ignored_fields"] == ["expires"]
    assert dump(json.dumps(to_builtins(EXAMPLES["AlertEvent"])).encode())["record"] == (
        "AlertEvent"
    )
    assert dump(wire.encode(EXAMPLES["AlertEvent"]), record="EnrichedAlert")["record"] == (
        "EnrichedAlert"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1]", "neither a JSON object nor an Avro single-object record"),
        (b'{"x": 1}', "fits none of the records"),
        (b"\xc3\x01" + b"\x00" * 8, "unknown writer schema fingerprint"),
    ],
)
def test_dump_errors(tmp_path, capsys, data, message):
    (tmp_path / "value").write_bytes(data)
    assert main(["dump", str(tmp_path / "value")]) == 1
    assert message in capsys.readouterr().err
