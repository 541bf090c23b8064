"""The Avro contract: ``schemas/*.avsc`` and the frozen ``schemas/history/``.

The .avsc files are the published contract of every topic, whatever the
encoding on the wire: the records of pipeline.models mirror them (tests check that),
consumers in other languages generate their types from them, and the
evolution rule is stated and checked on them (pipeline.wire.evolution).

Fingerprints are CRC-64-AVRO of the parsing canonical form, in wire
(little-endian) byte order, as the Avro spec and Java implementation store
them; their hex names the files in ``schemas/history/`` and the fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _avro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from pipeline.paths import SCHEMAS_DIR
from pipeline.wire.errors import SchemaError

HISTORY_DIR = SCHEMAS_DIR / "history"

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
COMPLEX = NAMED | {"array", "map"}


def full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def record_name(schema: Mapping[str, Any]) -> str:
    """Short record name ("Alert") of a top-level schema, the key for it everywhere."""
    return schema["name"].rsplit(".", 1)[-1]


def expand_references(schema: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict:
    """Return ``schema`` made self-contained: the first reference to a record
    defined in another file is replaced by that definition, later ones stay
    references (a named type may be defined only once per schema).

    ``definitions`` maps full names ("alertpipeline.Alert") to schemas.
    A writer schema must be self-contained to be fingerprinted and frozen.
    """
    defined: set[str] = set()

    def walk(node: Any, namespace: str) -> Any:
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            full = full_name(node, namespace)
            if full in defined or full not in definitions:
                # A back reference (also how recursive types stay finite),
                # or an unknown name that fastavro's parser will report.
                return node
            return walk(definitions[full], namespace)
        if isinstance(node, list):
            return [walk(branch, namespace) for branch in node]
        if not isinstance(node, Mapping):
            return node
        kind = node.get("type")
        if kind in NAMED:
            full = full_name(node["name"], node.get("namespace", namespace))
            defined.add(full)
            namespace = full.rpartition(".")[0]
        if kind in ("record", "error"):
            return {
                **node,
                "fields": [{**f, "type": walk(f["type"], namespace)} for f in node["fields"]],
            }
        if kind == "array":
            return {**node, "items": walk(node["items"], namespace)}
        if kind == "map":
            return {**node, "values": walk(node["values"], namespace)}
        if kind in NAMED:  # enum, fixed
            return dict(node)
        # {"type": "long", "logicalType": ...}, {"type": "alertpipeline.Alert"}, ...
        return {**node, "type": walk(kind, namespace)}

    return walk(schema, "")


def load_schema_files(schema_dir: Path = SCHEMAS_DIR) -> dict[str, dict]:
    """The current schemas, ``{record name: self-contained schema}``.

    Each ``*.avsc`` defines one top-level record; it may reference records of
    other files by full name (``"alertpipeline.Alert"``).
    """
    definitions: dict[str, dict] = {}
    for path in sorted(schema_dir.glob("*.avsc")):
        try:
            schema = json.loads(path.read_text())
            full = full_name(schema["name"], schema.get("namespace", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaError(f"{path}: not a named Avro schema: {exc}") from exc
        if full in definitions:
            raise SchemaError(f"{path}: {full} is defined twice")
        definitions[full] = schema
    current = {}
    for full, schema in definitions.items():
        expanded = expand_references(schema, definitions)
        parse_schema(expanded, where=full)  # fail here, naming the file, not at first use
        current[record_name(schema)] = expanded
    return current


def load_history(history_dir: Path = HISTORY_DIR) -> list[dict]:
    """Every frozen writer schema in ``history_dir``.

    History files keep the full writer schema (docs, defaults, logical
    types); their name carries the fingerprint, which is checked.
    """
    schemas = []
    for path in sorted(history_dir.glob("*.json")):
        schema = json.loads(path.read_text())
        expected = path.name.split(".")[1] if path.name.count(".") == 2 else None
        if fingerprint_hex(schema) != expected:
            raise SchemaError(
                f"{path}: file name does not carry the schema's fingerprint "
                f"{fingerprint_hex(schema)}; history files must not be edited"
            )
        schemas.append(schema)
    return schemas


def parse_schema(schema: Any, where: str) -> dict:
    """fastavro's parsed form of ``schema``; SchemaError naming ``where`` if invalid."""
    try:
        return fastavro.parse_schema(schema)
    except Exception as exc:  # fastavro raises several types for bad schemas
        raise SchemaError(f"{where}: invalid Avro schema: {exc}") from exc


def canonical_form(schema: Mapping[str, Any] | str) -> str:
    """Avro parsing canonical form: what the fingerprint is computed over."""
    return to_parsing_canonical_form(schema)


def schema_fingerprint(schema: Mapping[str, Any] | str) -> bytes:
    """CRC-64-AVRO of the canonical form, in wire (little-endian) byte order."""
    return bytes.fromhex(_avro_fingerprint(canonical_form(schema), "CRC-64-AVRO"))


def fingerprint_hex(schema: Mapping[str, Any] | str) -> str:
    return schema_fingerprint(schema).hex()
