"""What is wrong with a record value, as the one line a WireError carries.

msgspec stops at the first problem and words it for programmers (``Invalid enum value 'x…'``
quotes the whole value). A dead-letter reason should name every bad field (up to five) by its path
and never repeat what the sender wrote, so on failure, and only then, the value is walked field by
field against the record type here. Costs nothing on the happy path.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

MAX_PROBLEMS = 5
_MAX_NAME = 40  # characters of a map key shown in a path
_NOT_A_STRUCT = object()

_KINDS = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
    "object": "an object", "array": "an array", "null": "null", "datetime": "an RFC 3339 timestamp",
}  # fmt: skip
_JSON_KINDS = {dict: "object", list: "array", tuple: "array", str: "string", int: "number",
               float: "number", bool: "boolean", type(None): "null", datetime: "timestamp"}  # fmt: skip
_MSGSPEC_KINDS = {"array": "array", "object": "object", "null": "null", "int": "number",
                  "float": "number", "str": "string", "bool": "boolean"}  # fmt: skip

_AT = " - at `$"
_EXPECTED_GOT = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")
_BOUND = re.compile(r"Expected `(?:int|float)` (?P<op>[<>]=?) (?P<bound>\S+)")


def json_kind(value: Any) -> str:
    """The JSON name of a value's type ("object", "array", "string"...)."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def top_level_kind(exc: msgspec.ValidationError) -> str | None:
    """The JSON type of the whole value when ``exc`` says the record is not an object, else None."""
    text = str(exc)
    match = _EXPECTED_GOT.fullmatch(text)
    if match and match["want"] == "object":
        return _MSGSPEC_KINDS.get(match["got"], match["got"])
    return None


def describe(record_type: type, encoding: str | None, exc: msgspec.ValidationError, value: Any = None,
             *, analysed: bool = True) -> str:
    """``invalid <Record> [<encoding>] record: path: problem; path: problem``, at most
    MAX_PROBLEMS of them. ``value`` is the builtins value that failed (decoded JSON, an Avro
    value); ``analysed=False`` when there is none to walk (msgspec's own first problem is named)."""
    record = getattr(record_type, "avro_record", record_type.__name__)
    if encoding:
        record = f"{record} {encoding}"
    if analysed and not isinstance(value, Mapping):
        return f"{record} record must be an object, got {json_kind(value)}"
    problems: list[str] = []
    if analysed:
        _check_struct(record_type, value, "", problems)
    if not problems:  # nothing to walk, or the walk saw what msgspec did not: its own words
        problems = [_from_msgspec(exc)]
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"and {len(problems) - MAX_PROBLEMS} more")
    return f"invalid {record} record: " + "; ".join(shown)


def _check_struct(struct_type: type, value: Mapping, path: str, out: list[str]) -> None:
    for field in msgspec.structs.fields(struct_type):
        where = f"{path}.{field.encode_name}" if path else field.encode_name
        if field.encode_name not in value:
            if field.required:
                out.append(f"{where}: field required")
            continue
        _check(field.type, value[field.encode_name], where, out)


def _check(annotation: Any, item: Any, where: str, out: list[str]) -> None:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if item is None and type(None) in args:
            return
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:
            _check(options[0], item, where, out)
            return
    elif isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        if isinstance(item, Mapping):
            _check_struct(annotation, item, where, out)
        elif not isinstance(item, annotation):
            out.append(f"{where}: expected an object, got {json_kind(item)}")
        return
    elif origin is list and isinstance(item, list):
        for index, element in enumerate(item):
            _check(args[0], element, f"{where}[{index}]", out)
        return
    elif origin is dict and isinstance(item, Mapping) and args == (str, str):
        for key, element in item.items():
            if not isinstance(key, str):
                out.append(f"{where}: keys must be strings, got {json_kind(key)}")
            elif not isinstance(element, str):
                out.append(f"{where}.{_short(key)}: expected a string, got {json_kind(element)}")
        return
    elif origin is typing.Literal:
        if not isinstance(item, str):
            out.append(f"{where}: expected a string, got {json_kind(item)}")
        elif item not in args:
            out.append(f"{where}: must be {_choices(args)}")
        return
    try:
        msgspec.convert(item, annotation, strict=True)
    except msgspec.ValidationError as exc:
        out.append(_from_msgspec(exc, where))


def _choices(args: tuple) -> str:
    quoted = [f"'{arg}'" for arg in args]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _short(key: str) -> str:
    return key if len(key) <= _MAX_NAME else key[:_MAX_NAME] + "…"


def _from_msgspec(exc: msgspec.ValidationError, where: str = "") -> str:
    """One msgspec message, reworded to name the path and never quote the value."""
    text, at, path = str(exc).rpartition(_AT)
    if not at:
        text = path
    else:
        inner = path.removesuffix("`").lstrip(".")
        if inner.startswith("["):
            where = f"{where}{inner}"
        elif inner:
            where = f"{where}.{inner}" if where else inner
    missing = re.fullmatch(r"Object missing required field `(?P<name>[^`]+)`", text)
    if missing:
        name = missing["name"]
        return f"{where}.{name}: field required" if where else f"{name}: field required"
    return f"{where or '(record)'}: {_reworded(text)}"


def _reworded(text: str) -> str:
    if text == "Expected `datetime` with a timezone component":
        return "expected an RFC 3339 timestamp with an offset (e.g. 2024-05-01T12:00:00Z)"
    if text == "Invalid RFC3339 encoded datetime":
        return "not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z)"
    if text in ("Number out of range", "Integer value out of range"):
        return "number out of range"
    if text.startswith("Invalid enum value"):
        return "not one of the allowed values"
    bound = _BOUND.fullmatch(text)
    if bound:
        if bound["bound"].lstrip("-") == "1.7976931348623157e+308":
            return "must be a finite number"
        return f"must be {bound['op']} {bound['bound']}"
    expected = _EXPECTED_GOT.fullmatch(text)
    if expected:
        want, got = expected["want"], expected["got"]
        return f"expected {_KINDS.get(want, want)}, got {_MSGSPEC_KINDS.get(got, got)}"
    length = re.fullmatch(r"Expected `str` of length (?P<op>[<>]=?) (?P<n>\d+)", text)
    if length:
        return f"must be a string of length {length['op']} {length['n']}"
    pattern = re.fullmatch(r"Expected `str` matching regex '(?P<pattern>.*)'", text)
    if pattern:
        return f"must match {pattern['pattern']}"
    return text[:200]
