"""Records: validation rules, and that they agree with the Avro contract exactly."""

import types
import typing
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from pipeline import models, wire
from pipeline.fingerprint import alert_fingerprint
from pipeline.models import from_builtins, replace
from pipeline.wire import WireError, contract
from pipeline.wire.examples import fixture_examples

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LABELS = {"alertname": "DiskFull", "instance": "db-1"}


def make_alert(**overrides):
    fields = dict(labels=LABELS, starts_at=T0, status="firing", updated_at=T0)
    return models.Alert.with_fingerprint(**{**fields, **overrides})


def test_with_fingerprint_computes_it_from_labels_when_missing():
    assert make_alert().fingerprint == alert_fingerprint(LABELS)
    assert make_alert(fingerprint=None).fingerprint == alert_fingerprint(LABELS)


def test_alert_keeps_a_given_fingerprint():
    assert make_alert(fingerprint="0123456789abcdef").fingerprint == "0123456789abcdef"


def test_fingerprint_is_required_as_in_the_schema():
    fields = dict(labels=LABELS, starts_at=T0, status="firing", updated_at=T0)
    with pytest.raises(TypeError, match="fingerprint"):
        models.Alert(**fields)
    with pytest.raises(WireError, match="^invalid Alert record: fingerprint: field required$"):
        from_builtins(models.Alert, fields)


@pytest.mark.parametrize("bad", ["0123", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcdef\n"])
def test_alert_rejects_malformed_fingerprint(bad):
    with pytest.raises(WireError, match="fingerprint: must"):
        make_alert(fingerprint=bad)


def test_alert_with_bad_labels_fails_validation_not_fingerprinting():
    with pytest.raises(WireError, match="; labels.a: expected a string, got number$"):
        models.Alert.with_fingerprint(labels={"a": 1}, starts_at=T0, status="firing", updated_at=T0)


def test_naive_datetimes_are_rejected():
    with pytest.raises(WireError, match="starts_at: expected an RFC 3339 timestamp with an offset"):
        make_alert(starts_at=datetime(2024, 5, 1, 12, 0))


def test_aware_datetimes_keep_their_offset_and_compare_as_instants():
    # The edges convert to UTC (pipeline.ingest: the bridge's readers, raw_in_utc for the normalize
    # stage); a record keeps the offset it was given, and every comparison is by instant.
    cest = timezone(timedelta(hours=2))
    alert = make_alert(starts_at=datetime(2024, 5, 1, 14, 0, tzinfo=cest))
    assert alert.starts_at == T0 and alert.starts_at.utcoffset() == timedelta(hours=2)
    assert alert == make_alert(starts_at=T0)


def test_iso_strings_parse_as_utc():
    assert make_alert(starts_at="2024-05-01T12:00:00Z").starts_at == T0


def test_unknown_fields_are_rejected():
    with pytest.raises(TypeError, match="severity"):
        make_alert(severity="critical")
    with pytest.raises(TypeError, match="severity"):
        models.Alert(fingerprint="0123456789abcdef", labels={}, starts_at=T0, status="firing",
                     updated_at=T0, severity="critical")
    with pytest.raises(TypeError, match="severity"):
        replace(make_alert(), severity="critical")


def test_status_must_be_firing_or_resolved():
    with pytest.raises(WireError, match="status: must be 'firing' or 'resolved'"):
        make_alert(status="pending")


def test_records_are_immutable_values():
    alert = make_alert()
    with pytest.raises(AttributeError):
        alert.status = "resolved"  # type: ignore[misc]
    changed = replace(alert, status="resolved")
    assert (alert.status, changed.status) == ("firing", "resolved")
    assert changed == replace(alert, status="resolved") and changed != alert


def test_is_resolved_at_follows_alertmanager():
    assert not make_alert().is_resolved_at(T0 + timedelta(days=365))
    alert = make_alert(ends_at=T0 + timedelta(minutes=5))
    assert not alert.is_resolved_at(T0)
    assert alert.is_resolved_at(T0 + timedelta(minutes=5))  # ends_at == now counts as resolved


def test_enriched_alert_defaults_let_early_stages_omit_later_fields():
    event = models.AlertEvent(
        alert=make_alert(), source="prom", source_format="alertmanager-v2", received_at=T0
    )
    enriched = models.EnrichedAlert(
        **{name: getattr(event, name) for name in models.field_names(models.AlertEvent)}
    )
    assert enriched.state == "unprocessed"
    assert enriched.classification is None
    assert enriched.routes == [] and enriched.links == [] and enriched.silenced_by == []


def test_mutable_defaults_are_not_shared():
    first, second = make_alert(), make_alert()
    first.annotations["summary"] = "x"
    assert second.annotations == {}


def test_classification_priority_is_p0_to_p4():
    assert from_builtins(models.Classification, {"priority": "P0", "classified_by": "rules"}) == (
        models.Classification(priority="P0", classified_by="rules")
    )
    with pytest.raises(WireError, match="priority: must be 'P0', 'P1', 'P2', 'P3' or 'P4'"):
        from_builtins(models.Classification, {"priority": "P5", "classified_by": "rules"})


@pytest.mark.parametrize("confidence", [float("nan"), float("inf"), float("-inf")])
def test_confidence_is_finite(confidence):
    # JSON cannot carry NaN or Infinity (msgspec would write null).
    with pytest.raises(WireError, match="confidence: must be a finite number"):
        from_builtins(models.Classification,
                      {"priority": "P0", "classified_by": "llm", "confidence": confidence})


def test_raw_alert_accepts_unvalidated_values():
    raw = models.RawAlert(
        labels={}, status="weird", source="bridge", source_format="generic", received_at=T0
    )
    assert raw.starts_at is None and raw.status == "weird"


def test_from_builtins_takes_what_to_builtins_gives_and_ignores_unknown_fields():
    for example in fixture_examples().values():
        value = models.to_builtins(example)
        assert from_builtins(type(example), value) == example
        assert from_builtins(type(example), {**value, "added_later": 1}) == example


def test_from_builtins_is_strict_about_json_types():
    value = models.to_builtins(fixture_examples()["Notification"]) | {"flush_seq": "7"}
    with pytest.raises(WireError, match="^invalid Notification record: flush_seq: expected an integer"):
        from_builtins(models.Notification, value)


def test_notification_id_is_stable_and_depends_on_all_parts():
    base = models.notification_id('{}:{a="1"}', "pager", 3)
    assert base == models.notification_id('{}:{a="1"}', "pager", 3)
    assert len(base) == 32
    others = {
        models.notification_id('{}:{a="2"}', "pager", 3),
        models.notification_id('{}:{a="1"}', "email", 3),
        models.notification_id('{}:{a="1"}', "pager", 4),
    }
    assert base not in others and len(others) == 3


def test_record_models_are_the_wire_records():
    assert all(issubclass(model, models.WireRecord) for model in models.RECORD_MODELS.values())
    assert {name: model.avro_record for name, model in models.RECORD_MODELS.items()} == {
        name: name for name in models.RECORD_MODELS
    }


# --- models agree with the Avro contract ------------------------------------------
#
# The .avsc files are the published contract and the JSON on the wire is the
# records' serialization, so the two must describe the same records: same
# fields (recursively, in the same order), the same required fields, the same
# defaults, matching types, and the same value through either encoding.

EXAMPLES = fixture_examples()
CURRENT = contract.load_schema_files()
_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1),
           "double": (-1.7976931348623157e308, 1.7976931348623157e308)}
_SCALARS = {
    "string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool,
}  # fmt: skip


def test_every_schema_has_a_model_and_every_model_a_schema():
    assert set(models.RECORD_MODELS) == set(CURRENT) == set(EXAMPLES)


def contract_mismatches(schema: dict, model: type[msgspec.Struct], path: str, names: dict) -> list[str]:
    """Where ``model`` differs from the Avro record ``schema`` (fastavro's parsed form)."""
    fields = {field["name"]: field for field in schema["fields"]}
    infos = msgspec.structs.fields(model)
    if [info.encode_name for info in infos] != list(fields):
        return [f"{path}: model fields {[i.encode_name for i in infos]} != schema fields {list(fields)}"]
    problems = []
    for info in infos:
        field, where = fields[info.encode_name], f"{path}.{info.encode_name}"
        if info.required != ("default" not in field):
            problems.append(f"{where}: required in the {'model' if info.required else 'schema'} only")
        elif "default" in field:
            default = info.default_factory() if info.default is msgspec.NODEFAULT else info.default
            if default != field["default"]:
                problems.append(f"{where}: default {default!r} != schema's {field['default']!r}")
        problems += type_mismatches(field["type"], info.type, where, names)
    return problems


def type_mismatches(avro_type, annotation, where: str, names: dict) -> list[str]:
    if isinstance(avro_type, str):
        avro_type = names.get(avro_type, avro_type)
    metas = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        metas += [extra for extra in extras if isinstance(extra, msgspec.Meta)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(avro_type, str) and avro_type in _RANGES and annotation in (int, float):
        low, high = _RANGES[avro_type]
        lows = [m.ge for m in metas if m.ge is not None] + [m.gt for m in metas if m.gt is not None]
        highs = [m.le for m in metas if m.le is not None] + [m.lt for m in metas if m.lt is not None]
        if not (lows and highs and max(lows) >= low and min(highs) <= high):
            if avro_type == "double":
                return [f"{where}: double needs finite bounds (JSON has no NaN or Infinity)"]
            return [f"{where}: {avro_type} needs bounds within [{int(low)}, {int(high)}]"]
    model_union = origin in (typing.Union, types.UnionType)
    if isinstance(avro_type, list) or model_union:
        branches = avro_type if isinstance(avro_type, list) else [avro_type]
        options = args if model_union else (annotation,)
        if ("null" in branches) != (type(None) in options):
            return [f"{where}: nullable in only one of schema and model"]
        branches = [branch for branch in branches if branch != "null"]
        options = [option for option in options if option is not type(None)]
        if len(branches) != 1 or len(options) != 1:
            return [f"{where}: only [null, T] unions are supported"]
        return type_mismatches(branches[0], options[0], where, names)
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if avro_type.get("logicalType") == "timestamp-micros":
            ok = annotation is datetime
        elif kind == "record":
            if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
                return contract_mismatches(avro_type, annotation, where, names)
            ok = False
        elif kind == "array":
            if origin is list:
                return type_mismatches(avro_type["items"], args[0], f"{where}[]", names)
            ok = False
        elif kind == "map":
            if origin is dict and args[0] is str:
                return type_mismatches(avro_type["values"], args[1], f"{where}{{}}", names)
            ok = False
        else:
            return type_mismatches(kind, annotation, where, names)
    elif origin is typing.Literal:
        ok = all(isinstance(arg, _SCALARS.get(avro_type, ())) for arg in args)
    else:
        ok = annotation is _SCALARS.get(avro_type)
    return [] if ok else [f"{where}: schema type {avro_type} vs model type {annotation}"]


@pytest.mark.parametrize("record", sorted(models.RECORD_MODELS))
def test_model_agrees_with_schema_recursively(record):
    parsed = contract.parse_schema(CURRENT[record], where=record)
    names = parsed["__named_schemas"]
    assert contract_mismatches(parsed, models.RECORD_MODELS[record], record, names) == []


def test_the_agreement_check_catches_disagreements():
    class Drifted(msgspec.Struct, kw_only=True):
        fingerprint: str = ""  # required in the schema
        labels: dict[str, int]  # map<string>
        annotations: dict[str, str] = msgspec.field(default_factory=lambda: {"x": "y"})  # default {}
        starts_at: datetime
        ends_at: datetime  # nullable in the schema
        generator_url: str = ""
        status: typing.Literal["firing", 1]
        updated_at: str  # timestamp
        timeout: int = 0  # boolean

    parsed = contract.parse_schema(CURRENT["Alert"], where="Alert")
    assert contract_mismatches(parsed, Drifted, "Alert", parsed["__named_schemas"]) == [
        "Alert.fingerprint: required in the schema only",
        "Alert.labels{}: schema type string vs model type <class 'int'>",
        "Alert.annotations: default {'x': 'y'} != schema's {}",
        "Alert.ends_at: required in the model only",
        "Alert.ends_at: nullable in only one of schema and model",
        "Alert.status: schema type string vs model type typing.Literal['firing', 1]",
        "Alert.updated_at: schema type {'logicalType': 'timestamp-micros', 'type': 'long'} "
        "vs model type <class 'str'>",
        "Alert.timeout: schema type boolean vs model type <class 'int'>",
    ]


def test_the_agreement_check_catches_numbers_the_schema_cannot_carry():
    class Drifted(msgspec.Struct):
        truncated_alerts: typing.Annotated[int, msgspec.Meta(ge=0)]  # int: below 2^31
        flush_seq: typing.Annotated[int, msgspec.Meta(ge=0, le=2**63)]  # long: below 2^63
        confidence: float  # finite, as JSON carries it

    schema = {"type": "record", "name": "R", "fields": [
        {"name": "truncated_alerts", "type": "int"}, {"name": "flush_seq", "type": "long"},
        {"name": "confidence", "type": "double"}]}
    parsed = contract.parse_schema(schema, where="R")
    assert contract_mismatches(parsed, Drifted, "R", parsed["__named_schemas"]) == [
        "R.truncated_alerts: int needs bounds within [-2147483648, 2147483647]",
        "R.flush_seq: long needs bounds within [-9223372036854775808, 9223372036854775807]",
        "R.confidence: double needs finite bounds (JSON has no NaN or Infinity)",
    ]


@pytest.mark.parametrize("record", sorted(models.RECORD_MODELS))
def test_example_round_trips_through_json_and_avro(record):
    example = EXAMPLES[record]
    assert type(example).from_avro(example.to_avro()) == example
    assert models.from_builtins(type(example), models.to_builtins(example)) == example
    from_json = wire.decode(type(example), wire.encode(example))
    from_avro = wire.decode(type(example), wire.encode_avro(example))
    assert from_json == example == from_avro
    assert wire.encode(from_avro) == wire.encode(example)  # byte for byte
