"""Record values on the wire: JSON, with the schema enforced on decode.

Every topic carries JSON objects (UTF-8), one record each, written and read
through the records of pipeline.models (msgspec Structs, compiled encoders
and decoders).  Timestamps are RFC 3339 (``2024-05-01T12:00:00.123456Z``, in
UTC from our writers, the fraction left out when it is zero).  The Avro
schemas in ``schemas/*.avsc`` remain the published contract and the
evolution rule (pipeline.wire.contract, pipeline.wire.evolution); Avro
single-object records (magic ``C3 01``, pipeline.wire.avro) are accepted on
decode, and ``encode_avro`` writes them for producers and consumers that
prefer Avro.

    encode(record) -> bytes                 JSON
    encode_avro(record) -> bytes            Avro single-object
    decode(RecordClass, data) -> record     either format

Decoding is strict (JSON types must be the schema's: "1" is not a number)
and checks every constraint of the contract; unknown JSON fields are ignored,
so a newer writer (during a rolling upgrade) does not break an older reader.
Encoding trusts the record: values are checked where they come in (decode,
``pipeline.models.from_builtins``), not at every writer.  Everything that can
go wrong with bytes or values raises WireError (a ValueError) with a message
naming the problem, which stages use as the dead-letter reason.  See
docs/wire-format.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from pipeline.models import WireRecord
from pipeline.wire.avro import MAGIC, default_codec
from pipeline.wire.errors import SchemaError, WireError
from pipeline.wire.problems import describe, top_level_kind

__all__ = [
    "AVRO_MAGIC", "SchemaError", "WireError", "WireRecord", "decode", "encode", "encode_avro",
]  # fmt: skip

AVRO_MAGIC = MAGIC  # b"\xc3\x01": first two bytes of an Avro single-object record

M = TypeVar("M", bound=WireRecord)

_ENCODER = msgspec.json.Encoder()
_encode = _ENCODER.encode
# One compiled decoder per record type, built on first use.
_DECODERS: dict[type, msgspec.json.Decoder] = {}
_UNTYPED = msgspec.json.Decoder()


def encode(record: WireRecord) -> bytes:
    """The record as a JSON object, UTF-8, every field written (defaults too), in schema order."""
    if not isinstance(record, WireRecord):
        raise WireError(f"cannot encode a {type(record).__name__}: not a wire record")
    try:
        return _encode(record)
    except (TypeError, ValueError, OverflowError) as exc:  # a field holding an unencodable object
        raise WireError(f"cannot encode {record.avro_record} as JSON: {str(exc)[:300]}") from None


def encode_avro(record: WireRecord) -> bytes:
    """The record in Avro single-object encoding, with its current schema."""
    if not isinstance(record, WireRecord):
        raise WireError(f"cannot encode a {type(record).__name__}: not a wire record")
    value = record.to_avro()
    _check_utc_range(record.avro_record, value, "")
    return default_codec().encode(record.avro_record, value)


def _check_utc_range(record: str, value: object, path: str) -> None:
    # Avro's timestamp-micros is UTC: a time held with an offset (as decoded from someone else's
    # JSON; our writers hold UTC) that is not a UTC datetime (9999-12-31T23:59:59-01:00) would
    # write a number that no reader can turn back into one.
    if isinstance(value, datetime):
        if value.tzinfo is not UTC:
            try:
                value.astimezone(UTC)
            except (OverflowError, ValueError):
                raise WireError(f"cannot encode {record} as Avro: {path} is out of range in UTC") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (datetime, dict, list)):
                _check_utc_range(record, item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (datetime, dict, list)):
                _check_utc_range(record, item, f"{path}[{index}]")


def decode(record_class: type[M], data: bytes) -> M:
    """A ``record_class`` record from a JSON object or an Avro single-object
    record (told apart by the magic ``C3 01``).  WireError for anything else."""
    try:
        decoder = _DECODERS[record_class]
    except KeyError:
        decoder = _decoder(record_class)
    if type(data) is not bytes:
        data = _bytes_of(record_class, data)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise WireError(_invalid(record_class, exc, data)) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        if data[:2] == MAGIC:
            return record_class.from_avro(default_codec().decode_as(record_class.avro_record, data))
        raise WireError(_malformed(record_class.avro_record, exc, data)) from None


def _decoder(record_class: type) -> msgspec.json.Decoder:
    if not (isinstance(record_class, type) and issubclass(record_class, WireRecord)):
        raise TypeError(f"{record_class!r} is not a wire record type")
    # strict (the default): JSON types must be the schema's; unknown fields are skipped.
    decoder = _DECODERS[record_class] = msgspec.json.Decoder(record_class)
    return decoder


def _bytes_of(record_class: type[WireRecord], data: object) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)  # a copy, as the Avro reader and the error messages need bytes
    if data is None:
        raise WireError(
            f"no {record_class.avro_record} value: None is a Kafka tombstone; "
            "handle tombstones before decoding"
        )
    raise WireError(f"expected bytes, got {type(data).__name__}")


def _malformed(record: str, exc: Exception, data: bytes) -> str:
    if not data:
        return f"empty {record} value: 0 bytes"
    reason = "recursion limit exceeded" if isinstance(exc, RecursionError) else str(exc)
    if data.lstrip()[:1] == b"{":
        return f"{record} value is not valid JSON: {reason}"
    return f"{record} value is neither JSON nor Avro (no magic c301): {reason}"


def _invalid(record_class: type[WireRecord], exc: msgspec.ValidationError, data: bytes) -> str:
    """Why valid JSON is not a valid record; the value is read again untyped to name every bad field."""
    kind = top_level_kind(exc)
    if kind is not None:
        return f"{record_class.avro_record} JSON record must be an object, got {kind}"
    try:
        value = _UNTYPED.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return describe(record_class, "JSON", exc, analysed=False)
    return describe(record_class, "JSON", exc, value)
