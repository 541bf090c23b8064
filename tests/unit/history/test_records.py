"""DeliveryOutcome: the wire record mirrors its Avro schema, and the JSON on the wire fits both."""

import json
import typing
from datetime import datetime, timedelta, timezone

import fastavro
import msgspec
import pytest

from pipeline.history.records import (
    OUTCOME_KINDS,
    DeliveryOutcome,
    OutcomeDecodeError,
    decode_outcome,
    encode_outcome,
)
from pipeline.paths import SCHEMAS_DIR

SCHEMA = json.loads((SCHEMAS_DIR / "DeliveryOutcome.avsc").read_text())
EXAMPLE = DeliveryOutcome(notification_id="9f2c", receiver="team-db", integration="slack/0", group_key="{}:{}",
                          outcome="retrying", attempt=2, error="slack: HTTP 503", retry_tier="notifications.retry.30s",
                          at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc), status_code=503)


def test_fields_order_defaults_and_optionality_mirror_the_schema():
    info = msgspec.inspect.type_info(DeliveryOutcome)
    assert [f.name for f in info.fields] == [f["name"] for f in SCHEMA["fields"]]
    for field, avro in zip(info.fields, SCHEMA["fields"]):
        assert field.required == ("default" not in avro), field.name
        if "default" in avro:
            assert field.default == avro["default"], field.name
    assert typing.get_args(typing.get_type_hints(DeliveryOutcome)["outcome"]) == OUTCOME_KINDS


def test_the_json_round_trips_and_fits_the_avro_schema():
    data = encode_outcome(EXAMPLE)
    assert decode_outcome(data) == EXAMPLE
    value = json.loads(data)
    value["at"] = datetime.fromisoformat(value["at"].replace("Z", "+00:00"))
    parsed = fastavro.parse_schema(SCHEMA)
    assert fastavro.validate(value, parsed)


def test_readers_ignore_unknown_fields_fill_defaults_and_convert_offsets_to_utc():
    data = b'{"notification_id":"n","receiver":"r","group_key":"g","outcome":"delivered","attempt":1,' \
           b'"at":"2024-05-01T14:00:00+02:00","added_later":{"x":1}}'
    outcome = decode_outcome(data)
    assert outcome.at == datetime(2024, 5, 1, 12, tzinfo=timezone.utc) and outcome.at.utcoffset() == timedelta(0)
    assert (outcome.integration, outcome.error, outcome.retry_tier, outcome.status_code) == ("", "", "", None)


@pytest.mark.parametrize(("change", "problem"), [
    ({"outcome": "lost"}, "outcome: must be 'delivered', 'retrying', 'dead_lettered' or 'duplicate_skipped'"),
    ({"attempt": 0}, "attempt: must be >= 1"),
    ({"attempt": "1"}, "attempt: expected an integer, got string"),
    ({"at": "2024-05-01T12:00:00"}, "at: expected an RFC 3339 timestamp with an offset"),
    ({"at": 1714564800}, "at: expected an RFC 3339 timestamp, got number"),
])
def test_wrong_values_are_errors_naming_the_field(change, problem):
    value = {**json.loads(encode_outcome(EXAMPLE)), **change}
    with pytest.raises(OutcomeDecodeError, match="not a DeliveryOutcome") as error:
        decode_outcome(json.dumps(value).encode())
    assert problem in str(error.value)


def test_garbage_is_a_clear_error():
    with pytest.raises(OutcomeDecodeError, match="neither JSON nor Avro"):
        decode_outcome(b"\xff\x00")
