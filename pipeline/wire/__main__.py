"""python -m pipeline.wire freeze | check | dump [FILE] [--record NAME]"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.models import RECORD_MODELS, field_names
from pipeline.paths import REPO_ROOT
from pipeline.wire import WireError, decode, encode
from pipeline.wire.avro import MAGIC, default_codec
from pipeline.wire.contract import load_history, load_schema_files
from pipeline.wire.errors import SchemaError
from pipeline.wire.evolution import evolution_problems, freeze


def dump(data: bytes, record: str | None = None) -> dict[str, Any]:
    """Decode one record value, JSON or Avro, into a printable description.

    An Avro record names its schema; for JSON without ``record`` the record
    is inferred: the model that decodes it and knows most of its fields,
    the smallest such model on a tie (an AlertEvent also decodes as an
    EnrichedAlert with defaults).
    """
    if bytes(data[:2]) == MAGIC:
        found, _ = default_codec().decode(data)
        record = record or found
        model = decode(RECORD_MODELS[record], data)
        return {
            "record": record,
            "encoding": "avro",
            "writer_schema": bytes(data[2:10]).hex(),
            "value": json.loads(encode(model)),
        }
    if record is not None:
        return {"record": record, "encoding": "json", "value": _value(record, data)}
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise WireError("neither a JSON object nor an Avro single-object record (magic c301)")
    keys = set(parsed)
    candidates = []
    for name, model_class in RECORD_MODELS.items():
        try:
            decode(model_class, data)
        except WireError:
            continue
        unknown = sorted(keys - set(field_names(model_class)))
        candidates.append((len(unknown), len(field_names(model_class)), name, unknown))
    if not candidates:
        raise WireError(
            f"the JSON value fits none of the records {', '.join(RECORD_MODELS)}; "
            "pass --record NAME to see why"
        )
    _, _, record, unknown = min(candidates)
    described = {"record": record, "encoding": "json", "value": _value(record, data)}
    if unknown:
        described["ignored_fields"] = unknown
    return described


def _value(record: str, data: bytes) -> Any:
    return json.loads(encode(decode(RECORD_MODELS[record], data)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.wire", description="Wire format and schema contract tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "freeze", help="freeze current schemas into schemas/history with fixtures (Avro and JSON)"
    )
    commands.add_parser("check", help="check the evolution rule, write nothing")
    dump_parser = commands.add_parser(
        "dump", help="decode one record value (JSON or Avro; file or stdin) and print it as JSON"
    )
    dump_parser.add_argument("file", nargs="?", type=Path, help="default: stdin")
    dump_parser.add_argument(
        "--record", choices=sorted(RECORD_MODELS), help="record to decode as (default: inferred)"
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "freeze":
            written = freeze()
            for path in written:
                print(f"wrote {path.relative_to(REPO_ROOT)}")
            if written:
                print("schemas frozen; commit schemas/history/ and tests/fixtures/")
            else:
                print("nothing to freeze: every current schema is frozen with its fixtures")
        elif args.command == "check":
            current, history = load_schema_files(), load_history()
            problems = evolution_problems(current, history)
            for problem in problems:
                print(problem, file=sys.stderr)
            if not problems:
                print(f"ok: {len(current)} current schemas read all {len(history)} frozen ones")
            return 1 if problems else 0
        elif args.command == "dump":
            data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
            print(json.dumps(dump(data, args.record), indent=2, ensure_ascii=False))
    except (SchemaError, WireError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
