"""Reading alert fields out of decoded JSON, where any value can be of any type.

Every failure is an InvalidAlert naming the field in the sender's spelling,
so a parser turns it into that alert's problem and goes on with the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from itertools import repeat
from datetime import datetime
from typing import Any

from pipeline.ingest.errors import InvalidAlert
from pipeline.ingest.text import go_quote
from pipeline.ingest.timestamps import parse_rfc3339
from pipeline.ingest.validation import check_count

_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def with_article(value: Any) -> str:
    """``an object``, ``a string``...: the JSON type of ``value`` for a sentence."""
    kind = json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def string_map(value: Any, field: str, *, cap: int, required: bool = False) -> dict[str, str]:
    """An object of strings (labels, annotations); null or absent is empty unless ``required``."""
    if value is None:
        if required:
            raise InvalidAlert(f"{field} missing")
        return {}
    if type(value) is dict:  # what JSON decodes to: the common case, checked without a Python loop
        check_count(field, value, cap)
        pairs = dict(value)
        if _all_str(pairs.keys()) and _all_str(pairs.values()):
            return pairs
    elif not isinstance(value, Mapping):
        raise InvalidAlert(f"{field} must be an object of strings, got {json_type(value)}")
    check_count(field, value, cap)
    # The first wrongly typed name or value, in the mapping's order, says what is wrong.
    pairs = {}
    for name, item in value.items():
        if not isinstance(name, str):
            raise InvalidAlert(f"{field}: a name is {with_article(name)}, not a string")
        if not isinstance(item, str):
            raise InvalidAlert(
                f"{field}: value of {go_quote(name)} must be a string, got {json_type(item)}"
            )
        pairs[name] = item
    return pairs


def _all_str(items: Collection[Any]) -> bool:
    """Whether every item is a str (the test of the loop below), in C."""
    return all(map(isinstance, items, repeat(str, len(items))))


def optional_string(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidAlert(f"{field} must be a string, got {json_type(value)}")


def optional_timestamp(value: Any, field: str) -> datetime | None:
    """An RFC 3339 timestamp; null, absent and Go's zero time are None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAlert(f"invalid {field}: expected an RFC 3339 string, got {json_type(value)}")
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise InvalidAlert(f"invalid {field} {go_quote(value)}: {exc}") from None


def scalar_text(value: Any) -> str | None:
    """A JSON scalar as label text (numbers as JSON writes them).

    None for null, objects, arrays, and integers too long to print.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int→str allows (sys.get_int_max_str_digits)
            return None
    if isinstance(value, float):
        # No JSON spelling for these; Prometheus writes them so.
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return json.dumps(value)
    return None


def compact_json(value: Any) -> str | None:
    """``value`` as compact JSON text with sorted keys (stable, so re-sends compare equal).

    None when it has no JSON text: NaN or infinity inside, non-string keys, or
    nesting deeper than the interpreter's recursion limit.
    """
    try:
        return json.dumps(
            value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
        )
    except (ValueError, TypeError, RecursionError):
        return None
