"""The evolution rule, checked statically, and ``freeze``, which releases schemas.

Rule (backward compatibility): the current schema of each record must read
every record written with any schema frozen in ``schemas/history/``.  The
check applies the Avro schema resolution rules to the two schemas, without
data.  For JSON this means the same thing: a field the current model reads
either was written by every released version or has a default.

``freeze`` refuses schemas that break the rule, and otherwise freezes each
new current schema with a fixture record in both encodings:

    schemas/history/<Record>.<fingerprint>.json      the writer schema
    tests/fixtures/avro/<Record>.<fingerprint>.bin   an Avro single-object record
    tests/fixtures/avro/<Record>.<fingerprint>.json  ...and its decoded value
    tests/fixtures/json/<Record>.<fingerprint>.json  the same record as JSON on the wire
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.paths import REPO_ROOT, SCHEMAS_DIR
from pipeline.wire import encode
from pipeline.wire.avro import Codec, to_jsonable
from pipeline.wire.contract import (
    COMPLEX,
    NAMED,
    fingerprint_hex,
    full_name,
    load_history,
    load_schema_files,
    parse_schema,
    record_name,
)
from pipeline.wire.errors import SchemaError
from pipeline.wire.examples import fixture_examples

FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"

# Writer type -> reader types it is promoted to when read.
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class _Resolution:
    """Checks, without data, that a reader schema can read a writer schema."""

    def __init__(self, writer: Mapping[str, Any], reader: Mapping[str, Any]):
        self.writer = parse_schema(writer, where="writer schema")
        self.reader = parse_schema(reader, where="reader schema")
        self._writer_names = _named_types(self.writer)
        self._reader_names = _named_types(self.reader)
        self._assumed: set[tuple[str, str]] = set()  # record pairs being checked (recursion)

    def problems(self) -> list[str]:
        return self._check(self.writer, self.reader, _describe(self.reader).rsplit(".", 1)[-1])

    @staticmethod
    def _resolve(node: Any, names: Mapping[str, Any]) -> Any:
        if isinstance(node, str):
            return names.get(node, node)
        if isinstance(node, Mapping) and node["type"] not in COMPLEX:
            # {"type": "long", "logicalType": ...} reads as its underlying type;
            # {"type": "some.Name"} is a wrapped reference.
            return _Resolution._resolve(node["type"], names)
        return node

    @staticmethod
    def _kind(node: Any) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, list):
            return "union"
        return "record" if node["type"] == "error" else node["type"]

    def _shallow_match(self, writer: Any, reader: Any) -> bool:
        """The Avro spec's "matches", used to pick a reader union branch."""
        wkind, rkind = self._kind(writer), self._kind(reader)
        if wkind in NAMED or rkind in NAMED:
            return wkind == rkind and _names_match(writer, reader)
        return wkind == rkind or rkind in _PROMOTIONS.get(wkind, ())

    def _check(self, writer: Any, reader: Any, path: str) -> list[str]:
        writer = self._resolve(writer, self._writer_names)
        reader = self._resolve(reader, self._reader_names)
        wkind, rkind = self._kind(writer), self._kind(reader)
        if wkind == "union":
            # Every branch the writer may have chosen must be readable.
            return [problem for branch in writer for problem in self._check(branch, reader, path)]
        if rkind == "union":
            for branch in reader:
                branch = self._resolve(branch, self._reader_names)
                if self._shallow_match(writer, branch):
                    return self._check(writer, branch, path)
            return [
                f"{path}: writer type {_describe(writer)} matches no branch of the reader union"
            ]
        if wkind != rkind:
            if rkind in _PROMOTIONS.get(wkind, ()):
                return []
            return [
                f"{path}: writer type {_describe(writer)} cannot be read as {_describe(reader)}"
            ]
        if wkind in ("record", "enum", "fixed") and not _names_match(writer, reader):
            return [f"{path}: writer {writer['name']} cannot be read as {reader['name']}"]
        if wkind == "record":
            return self._check_record(writer, reader, path)
        if wkind == "enum":
            missing = set(writer["symbols"]) - set(reader["symbols"])
            if missing and "default" not in reader:
                return [f"{path}: reader enum lacks symbols {sorted(missing)} and has no default"]
        if wkind == "fixed" and writer["size"] != reader["size"]:
            return [f"{path}: fixed size {writer['size']} cannot be read as {reader['size']}"]
        if wkind == "array":
            return self._check(writer["items"], reader["items"], f"{path}[]")
        if wkind == "map":
            return self._check(writer["values"], reader["values"], f"{path}{{}}")
        return []

    def _check_record(self, writer: Mapping, reader: Mapping, path: str) -> list[str]:
        pair = (writer["name"], reader["name"])
        if pair in self._assumed:
            return []
        self._assumed.add(pair)
        writer_fields = {field["name"]: field for field in writer["fields"]}
        problems = []
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            written = next((writer_fields[n] for n in names if n in writer_fields), None)
            field_path = f"{path}.{field['name']}"
            if written is not None:
                problems += self._check(written["type"], field["type"], field_path)
            elif "default" not in field:
                problems.append(
                    f"{field_path}: field is not in the writer schema and has no default"
                )
        return problems


def _named_types(parsed: Any) -> Mapping[str, Any]:
    return parsed.get("__named_schemas", {}) if isinstance(parsed, Mapping) else {}


def _names_match(writer: Mapping, reader: Mapping) -> bool:
    name = writer["name"]
    aliases = {full_name(a, reader["name"].rpartition(".")[0]) for a in reader.get("aliases", ())}
    return name == reader["name"] or name in aliases


def _describe(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    return node.get("name", node["type"])


def schema_incompatibilities(writer: Mapping[str, Any], reader: Mapping[str, Any]) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; [] if it can."""
    return _Resolution(writer, reader).problems()


def evolution_problems(current: Mapping[str, Mapping], history: Iterable[Mapping]) -> list[str]:
    """Violations of the evolution rule: each current schema must read all its history."""
    problems = []
    for schema in history:
        record = record_name(schema)
        where = f"{record} {fingerprint_hex(schema)}"
        if record not in current:
            problems.append(f"{where}: frozen record has no current schema")
            continue
        problems += [f"{where}: {p}" for p in schema_incompatibilities(schema, current[record])]
    return problems


def freeze(
    schema_dir: Path = SCHEMAS_DIR,
    history_dir: Path | None = None,
    fixtures_dir: Path = FIXTURES_DIR,
) -> list[Path]:
    """Freeze every current schema not yet in history, with its fixtures.

    Refuses if a current schema cannot read its history.  Files that exist
    are never rewritten.  Returns the files written.
    """
    history_dir = schema_dir / "history" if history_dir is None else history_dir
    current = load_schema_files(schema_dir)
    history = load_history(history_dir)
    problems = evolution_problems(current, history)
    if problems:
        raise SchemaError("current schemas break the evolution rule:\n  " + "\n  ".join(problems))
    codec = Codec(current, history)
    examples = fixture_examples()
    avro_dir, json_dir = fixtures_dir / "avro", fixtures_dir / "json"
    for directory in (history_dir, avro_dir, json_dir):
        directory.mkdir(parents=True, exist_ok=True)
    written = []

    def write(path: Path, content: str | bytes) -> None:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        written.append(path)

    for record, schema in current.items():
        stem = f"{record}.{fingerprint_hex(schema)}"
        if not (history_dir / f"{stem}.json").exists():
            write(history_dir / f"{stem}.json", json.dumps(schema, indent=2) + "\n")
        missing = [
            path
            for path in (avro_dir / f"{stem}.bin", json_dir / f"{stem}.json")
            if not path.exists()
        ]
        if missing and record not in examples:
            raise SchemaError(f"no example for record {record}: add one to fixture_examples()")
        if avro_dir / f"{stem}.bin" in missing:
            data = codec.encode(record, examples[record])
            decoded = to_jsonable(codec.decode_as(record, data))
            # .bin last: it is what marks the fixture as written.
            write(avro_dir / f"{stem}.json", json.dumps(decoded, indent=2) + "\n")
            write(avro_dir / f"{stem}.bin", data)
        if json_dir / f"{stem}.json" in missing:
            wire = json.loads(encode(examples[record]))
            write(json_dir / f"{stem}.json", json.dumps(wire, indent=2) + "\n")
    return written
