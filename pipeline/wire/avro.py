"""Avro single-object encoding, for producers and consumers that want Avro.

    C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes) | Avro binary body

The pipeline's own wire is JSON (pipeline.wire); ``pipeline.wire.decode``
accepts these records too, and ``pipeline.wire.encode_avro`` writes them.

Decoding looks the fingerprint up among the current schemas and every
historical writer schema in ``schemas/history/`` and resolves the body
against the current reader schema of that record, so a consumer reads what
any released producer wrote.  Every failure is a WireError.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import msgspec
from fastavro.validation import validate as validate_value

from pipeline.paths import SCHEMAS_DIR
from pipeline.wire.contract import (
    HISTORY_DIR,
    load_history,
    load_schema_files,
    parse_schema,
    record_name,
    schema_fingerprint,
)
from pipeline.wire.errors import SchemaError, WireError

MAGIC = b"\xc3\x01"
FINGERPRINT_SIZE = 8
HEADER_SIZE = len(MAGIC) + FINGERPRINT_SIZE


@dataclass(frozen=True)
class WriterSchema:
    """A schema records are (or were) written with."""

    record: str
    fingerprint: bytes
    schema: dict  # self-contained JSON form
    parsed: dict  # fastavro's parsed form, parsed once

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> WriterSchema:
        parsed = parse_schema(schema, where=schema.get("name", "?"))
        return cls(record_name(schema), schema_fingerprint(schema), dict(schema), parsed)

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


class Codec:
    """Encodes with the current schemas; decodes anything written with a
    current or historical schema into the current reader schema."""

    def __init__(self, current: Mapping[str, Mapping[str, Any]], history: Iterable[Mapping] = ()):
        self._current = {name: WriterSchema.of(schema) for name, schema in current.items()}
        # fingerprint -> (writer, reader); reader None when they are the same
        # schema, which lets fastavro skip schema resolution on the hot path.
        self._by_fingerprint: dict[bytes, tuple[WriterSchema, WriterSchema | None]] = {}
        for schema in history:
            writer = WriterSchema.of(schema)
            if writer.record not in self._current:
                raise SchemaError(
                    f"historical schema {writer.fingerprint_hex} is for record {writer.record}, "
                    "which has no current schema"
                )
            self._by_fingerprint[writer.fingerprint] = (writer, self._current[writer.record])
        for writer in self._current.values():
            self._by_fingerprint[writer.fingerprint] = (writer, None)

    @classmethod
    def from_directory(
        cls, schema_dir: Path = SCHEMAS_DIR, history_dir: Path | None = None
    ) -> Codec:
        history_dir = schema_dir / "history" if history_dir is None else history_dir
        return cls(load_schema_files(schema_dir), load_history(history_dir))

    @property
    def records(self) -> tuple[str, ...]:
        return tuple(self._current)

    def current(self, record: str) -> WriterSchema:
        try:
            return self._current[record]
        except KeyError:
            raise WireError(
                f"unknown record {record!r}; known: {', '.join(self._current)}"
            ) from None

    def writer_schemas(self) -> list[WriterSchema]:
        """Every schema this codec decodes: current and historical."""
        return [writer for writer, _ in self._by_fingerprint.values()]

    def encode(
        self, record: str, value: Mapping[str, Any] | msgspec.Struct, *, validate: bool = False
    ) -> bytes:
        """Encode ``value`` with the current schema of ``record``.

        The writer itself rejects missing/unknown keys and wrong types for
        strings, numbers, maps, arrays and records, but it writes any truthy
        value as ``true`` and truncates a float written to an int/long.
        ``validate=True`` adds fastavro's full type check (about 3x the cost
        of encoding) for dicts from untrusted code.
        """
        writer = self.current(record)
        if isinstance(value, msgspec.Struct):
            model_record = getattr(value, "avro_record", record)
            if model_record != record:
                raise WireError(f"cannot encode a {model_record} record as record {record}")
            value = value.to_avro()
        if validate:
            try:
                validate_value(value, writer.parsed, raise_errors=True)
            except Exception as exc:
                raise WireError(f"{record} value does not match schema: {exc}") from exc
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(writer.fingerprint)
        try:
            # strict_allow_default: a misspelt or missing key is an error, not
            # a silently written default.
            fastavro.schemaless_writer(out, writer.parsed, value, strict_allow_default=True)
        except Exception as exc:  # fastavro raises TypeError/ValueError/KeyError/...
            raise WireError(f"{record} value does not match schema: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """``(record name, value in the current reader schema)``."""
        writer, reader = self._schemas_for(data)
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            value = fastavro.schemaless_reader(
                body, writer.parsed, reader.parsed if reader is not None else None
            )
        except Exception as exc:  # EOFError, UnicodeDecodeError, OverflowError, ...
            raise WireError(
                f"truncated or corrupt {writer.record} body "
                f"(writer schema {writer.fingerprint_hex}): {type(exc).__name__}: {exc}"
            ) from exc
        if body.tell() != len(data):
            raise WireError(
                f"corrupt {writer.record} record: {len(data) - body.tell()} bytes after the body"
            )
        return writer.record, value

    def decode_as(self, record: str, data: bytes) -> dict[str, Any]:
        self.current(record)  # unknown record names are a caller bug worth naming
        found, value = self.decode(data)
        if found != record:
            raise WireError(f"expected a {record} record, got a {found} record")
        return value

    def _schemas_for(self, data: Any) -> tuple[WriterSchema, WriterSchema | None]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            hint = " (a Kafka tombstone; handle it before decoding)" if data is None else ""
            raise WireError(f"expected bytes, got {type(data).__name__}{hint}")
        if len(data) < HEADER_SIZE:
            raise WireError(
                f"too short: {len(data)} bytes, an Avro single-object record has a "
                f"{HEADER_SIZE}-byte header"
            )
        if data[:2] != MAGIC:
            raise WireError(
                f"bad magic {bytes(data[:2]).hex()}, expected c301 (Avro single-object encoding)"
            )
        fingerprint = bytes(data[2:HEADER_SIZE])
        try:
            return self._by_fingerprint[fingerprint]
        except KeyError:
            raise WireError(
                f"unknown writer schema fingerprint {fingerprint.hex()} "
                "(not a current or historical schema)"
            ) from None


@cache
def default_codec() -> Codec:
    """The codec for the schemas shipped in ``schemas/``, loaded once."""
    return Codec.from_directory(SCHEMAS_DIR, HISTORY_DIR)


def to_jsonable(value: Any) -> Any:
    """A decoded Avro value with datetimes as ISO 8601 strings (fixtures, `dump`)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return value
