"""Record values on the wire: JSON, with the schema enforced by the models.

Every topic carries JSON objects (UTF-8), one record each, written and read
through the pydantic models of pipeline.models.  Timestamps are RFC 3339 in
UTC with microseconds (``2024-05-01T12:00:00.123456Z``).  The Avro schemas in
``schemas/*.avsc`` remain the published contract and the evolution rule
(pipeline.wire.contract, pipeline.wire.evolution); Avro single-object records
(magic ``C3 01``, pipeline.wire.avro) are accepted on decode, and
``encode_avro`` writes them for producers and consumers that prefer Avro.

    encode(record) -> bytes                 JSON
    encode_avro(record) -> bytes            Avro single-object
    decode(ModelClass, data) -> record      either format

Unknown JSON fields are ignored on decode, so a newer writer (during a
rolling upgrade) does not break an older reader; models built in code still
reject unknown fields.  Everything that can go wrong with bytes or values
raises WireError (a ValueError) with a message naming the problem, which
stages use as the dead-letter reason.  See docs/wire-format.md.
"""

from __future__ import annotations

import inspect
from typing import TypeVar

from pydantic import VERSION as PYDANTIC_VERSION
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from pipeline.models import WireRecord
from pipeline.wire.avro import MAGIC, default_codec
from pipeline.wire.errors import SchemaError, WireError

__all__ = [
    "AVRO_MAGIC", "SchemaError", "WireError", "WireRecord", "decode", "encode", "encode_avro",
]  # fmt: skip

AVRO_MAGIC = MAGIC  # b"\xc3\x01": first two bytes of an Avro single-object record

M = TypeVar("M", bound=WireRecord)

if "extra" not in inspect.signature(BaseModel.model_validate_json).parameters:
    # Ignoring unknown fields on decode only (not in code) needs `extra=` at
    # validation time (pydantic#12233); without it every decode would fail.
    raise ImportError(
        "pipeline.wire needs a pydantic whose model_validate_json takes extra= "
        f"(pydantic#12233, 2.12 or later); found {PYDANTIC_VERSION}"
    )

_MAX_PROBLEMS = 5
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}  # fmt: skip


def encode(record: WireRecord) -> bytes:
    """The record as a JSON object, UTF-8 (pydantic's serializer, in Rust).

    A field holding a value of the wrong type (possible after attribute
    assignment or ``model_copy(update=...)``, which do not validate) is a
    WireError, not a record that readers would reject.
    """
    if not isinstance(record, WireRecord):
        raise WireError(f"cannot encode a {type(record).__name__}: not a wire record model")
    try:
        return record.__pydantic_serializer__.to_json(record, warnings="error")
    except PydanticSerializationError as exc:
        reason = " ".join(str(exc).split())  # pydantic's message spans lines
        raise WireError(f"cannot encode {record.avro_record} as JSON: {reason[:500]}") from None


def encode_avro(record: WireRecord) -> bytes:
    """The record in Avro single-object encoding, with its current schema."""
    if not isinstance(record, WireRecord):
        raise WireError(f"cannot encode a {type(record).__name__}: not a wire record model")
    return default_codec().encode(record.avro_record, record.to_avro())


def decode(model_class: type[M], data: bytes) -> M:
    """A ``model_class`` record from a JSON object or an Avro single-object
    record (told apart by the magic ``C3 01``).  WireError for anything else."""
    if not (isinstance(model_class, type) and issubclass(model_class, WireRecord)):
        raise TypeError(f"{model_class!r} is not a wire record model")
    record = model_class.avro_record
    if not isinstance(data, (bytes, bytearray)):
        if data is None:
            raise WireError(
                f"no {record} value: None is a Kafka tombstone; handle tombstones before decoding"
            )
        if not isinstance(data, memoryview):
            raise WireError(f"expected bytes, got {type(data).__name__}")
        data = data.tobytes()
    if data[:2] == MAGIC:
        value = default_codec().decode_as(record, data)
        try:
            return model_class.from_avro(value)
        except ValidationError as exc:
            raise WireError(_describe(record, "Avro", exc)) from None
    if not data:
        raise WireError(f"empty {record} value: 0 bytes")
    try:
        # strict: JSON types must be the schema's ("1" is not a number,
        # "true" not a boolean); timestamps are RFC 3339 strings.
        return model_class.model_validate_json(data, strict=True, extra="ignore")
    except ValidationError as exc:
        raise WireError(_describe(record, "JSON", exc, data)) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:  # belt and braces
        raise WireError(f"invalid {record} JSON record: {type(exc).__name__}: {exc}") from None


def _describe(record: str, encoding: str, exc: ValidationError, data: bytes = b"") -> str:
    """A one-line reason naming each bad field, never echoing whole values."""
    errors = exc.errors(include_url=False, include_context=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        reason = first["msg"].removeprefix("Invalid JSON: ")
        if data.lstrip()[:1] == b"{":
            return f"{record} value is not valid JSON: {reason}"
        return f"{record} value is neither JSON nor Avro (no magic c301): {reason}"
    if first["type"] == "model_type" and not first["loc"]:
        kind = _JSON_TYPES.get(type(first.get("input")), type(first.get("input")).__name__)
        return f"{record} {encoding} record must be an object, got {kind}"
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(record)'}: {error['msg']}"
        for error in errors[:_MAX_PROBLEMS]
    ]
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return f"invalid {record} {encoding} record: " + "; ".join(problems)
