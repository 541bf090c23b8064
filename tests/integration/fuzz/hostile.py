"""Hostile Alertmanager API v2 batches, each with the answer the bridge must give.

A batch mixes alerts that are valid by construction (each tagged with a unique ``fuzz_id`` label)
with garbage that is invalid by construction (wrong types, bad names, oversized text, bad
timestamps...), and sometimes a twist of the whole request (a lone surrogate escape or nesting
past the parser's depth, over-size bodies, too many alerts, a non-JSON media type, chunked
transfer). The body is written as JSON text by hand so that it can carry what ``json.dumps``
cannot: duplicate keys, nesting deeper than Python's recursion limit, raw escapes.

The oracle follows the bridge's documented order: media type (415) → body size (413) → JSON (400)
→ top-level shape (400) → alert count (413) → per-alert validity (200, or 400 listing the invalid
indices with the valid ones stored). Limits are those of pipeline.ingest.limits and the default
source limits (1 MiB, 1000 alerts).

A lone surrogate escape (``"\ud800"``) anywhere in the body, even in a key the format ignores, is
not JSON to the bridge's parser (orjson), so the whole request gets 400 and nothing is stored
(Alertmanager, in Go, would read it as U+FFFD instead): LONE_SURROGATE_STATUS says so in one place.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from pipeline.ingest import limits

MAX_BODY_BYTES = 1024 * 1024  # default source limit (pipeline.bridge.sources.Limits)
MAX_ALERTS = 1000
MAX_DEPTH = 1024  # orjson's nesting limit: deeper is "not valid JSON"
LONE_SURROGATE_STATUS = 400  # the whole request; see the module doc
FUZZ_LABEL = "fuzz_id"
KNOWN_KEYS = {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


@dataclass
class Item:
    text: str                       # the alert's JSON text
    valid: bool
    fuzz_id: str | None = None      # set on every item that has a labels object we control
    labels: dict[str, str] | None = None  # what alerts.raw must hold for a valid item


@dataclass
class HostileRequest:
    body: bytes
    content_type: str | None
    chunked: bool
    items: list[Item]
    expected_status: int
    stored: list[Item]              # the alerts that must be in alerts.raw after this request
    expect_invalid: list[int] = field(default_factory=list)  # indices the 400 must list
    twist: str = "none"


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def dumps(value, ascii_only: bool, indent: int | None = None) -> str:
    """JSON text; ``ascii_only`` writes every non-ASCII character as \\u escapes (pairs above U+FFFF)."""
    return json.dumps(value, ensure_ascii=ascii_only, indent=indent,
                      separators=(",", ":") if indent is None and ascii_only else None)


# --- text ----------------------------------------------------------------------------------------

TRICKY = [
    "", " ", "\x00", "\t\n\r", "\u2028\u2029", "\ufeff", "\u200b\u200d", "\u202eevil", "e\u0301",
    "😀", "👩‍👩‍👧‍👦", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "日本語", "عربى", "\U0010fffd", "\uffff", "\\", '"', "\\ud800",
    "{{ .Labels.x }}", "${jndi:ldap://x}", "<script>", "'; DROP TABLE alerts; --", "null", "NaN",
]
safe_chars = st.characters(exclude_categories=["Cs"])  # every code point but surrogates
safe_text = st.one_of(
    st.text(safe_chars, max_size=30),
    st.sampled_from(TRICKY),
    st.lists(st.sampled_from(TRICKY), max_size=6).map("".join),
)
label_names = st.one_of(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True),
    st.sampled_from(["_", "__name__", "a" * limits.MAX_NAME_BYTES, "Z9"]),
).filter(lambda n: n != FUZZ_LABEL)
bad_label_names = st.one_of(
    st.sampled_from(["", "0bad", "a-b", "a.b", "a b", "é", "x\n", "\x00", "😀", "a" * (limits.MAX_NAME_BYTES + 1)]),
    st.text(safe_chars, min_size=1, max_size=10).filter(lambda n: not _is_label_name(n)),
)


def _is_label_name(name: str) -> bool:
    return re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) is not None


@st.composite
def big_text(draw, lo: int, hi: int) -> str:
    """A string of lo..hi UTF-8 bytes, cheap to generate: a repeated 1-, 2-, 3- or 4-byte character."""
    char = draw(st.sampled_from(["x", "é", "€", "😀"]))
    width = len(char.encode())
    count = draw(st.integers(-(-lo // width), hi // width))  # ceil(lo / width) .. floor(hi / width)
    return char * count


label_values = st.one_of(
    safe_text, safe_text, big_text(1, limits.MAX_LABEL_VALUE_BYTES),
    st.just("x" * limits.MAX_LABEL_VALUE_BYTES), st.just("😀" * (limits.MAX_LABEL_VALUE_BYTES // 4)),
)
annotation_values = st.one_of(safe_text, safe_text, big_text(1, 8 * 1024),
                              st.just("a" * limits.MAX_ANNOTATION_VALUE_BYTES))

# Junk for keys the format ignores: any JSON except what makes the whole body invalid.
junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False)
    | safe_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(safe_text, children, max_size=4),
    max_leaves=12,
)


# --- timestamps ----------------------------------------------------------------------------------

@st.composite
def instants(draw, lo=datetime(1970, 1, 1, tzinfo=UTC), hi=datetime(2100, 1, 1, tzinfo=UTC)):
    digits = draw(st.integers(0, 9))
    moment = draw(st.datetimes(lo.replace(tzinfo=None), hi.replace(tzinfo=None))).replace(tzinfo=UTC)
    keep = min(digits, 6)
    micro = moment.microsecond - moment.microsecond % (10 ** (6 - keep))
    return moment.replace(microsecond=micro), digits


@st.composite
def rfc3339(draw, moment_digits):
    """An RFC 3339 spelling of the instant: any offset, 0..9 fraction digits (finer than µs dropped)."""
    moment, digits = moment_digits
    offset = draw(st.one_of(st.just(0), st.integers(-23 * 60 - 59, 23 * 60 + 59)))
    local = moment.astimezone(timezone(timedelta(minutes=offset)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        fraction = f"{local.microsecond:06d}"[: min(digits, 6)]
        if digits > 6:  # finer than a microsecond: dropped by the bridge
            fraction += f"{draw(st.integers(0, 10 ** (digits - 6) - 1)):0{digits - 6}d}"
        text += "." + fraction
    if offset == 0 and draw(st.booleans()):
        return text + "Z"
    sign = "-" if offset < 0 else "+"
    return text + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


@st.composite
def valid_timing(draw) -> dict:
    kind = draw(st.sampled_from(["none", "start", "end", "both", "both", "nulls", "zero", "extreme"]))
    if kind == "none":
        return {}
    if kind == "nulls":
        return {"startsAt": None, "endsAt": None}
    if kind == "zero":  # Go's zero time: "not set"
        return {"startsAt": draw(st.sampled_from([None, "0001-01-01T00:00:00Z"])), "endsAt": "0001-01-01T00:00:00Z"}
    if kind == "extreme":
        return {"startsAt": "0001-01-01T00:00:01Z", "endsAt": "9999-12-31T23:59:59.999999999Z"}
    a, b = draw(instants()), draw(instants())
    a, b = sorted([a, b], key=lambda p: p[0])
    if kind == "start":  # in the past: a start after now + resolve_timeout would be after its made-up end
        return {"startsAt": draw(rfc3339(draw(instants(hi=datetime.now(UTC) - timedelta(days=1)))))}
    if kind == "end":
        return {"endsAt": draw(rfc3339(b))}
    return {"startsAt": draw(rfc3339(a)), "endsAt": draw(rfc3339(b))}


BAD_TIMESTAMPS = [
    "", "now", "2024-01-01", "2024-01-01T00:00:00", "2024-01-01t00:00:00z", "2024-01-01 00:00:00Z",
    "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00+01:60", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+00:01", "0000-01-01T00:00:00Z",
    "２０２４-01-01T00:00:00Z", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z ", "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00Z\n", "1704067200",
]
bad_timestamp = st.one_of(st.sampled_from(BAD_TIMESTAMPS), st.integers(), st.booleans(), st.just([]), st.just({}))


# --- alerts --------------------------------------------------------------------------------------

def _size_ok(labels: dict, annotations: dict, url) -> bool:
    total = sum(utf8_size(k) + utf8_size(v) for d in (labels, annotations) for k, v in d.items())
    total += utf8_size(url) if isinstance(url, str) else 0
    return total <= limits.MAX_ALERT_TEXT_BYTES


@st.composite
def valid_alert(draw, run: str) -> Item:
    fuzz_id = f"{run}-{uuid.uuid4().hex[:12]}"
    if draw(st.integers(0, 20)) == 0:  # exactly the label cap, fuzz_id included
        pick = random.Random(draw(st.integers(0, 2**32)))  # one draw, not 255
        labels = {f"l{n}": pick.choice(TRICKY[1:]) for n in range(limits.MAX_LABELS - 1)}
    else:
        labels = draw(st.dictionaries(label_names, label_values, max_size=6))
    labels[FUZZ_LABEL] = fuzz_id
    obj: dict = {"labels": labels}
    if draw(st.booleans()):
        obj["annotations"] = draw(st.one_of(st.none(), st.dictionaries(label_names, annotation_values, max_size=5)))
    obj.update(draw(valid_timing()))
    if draw(st.booleans()):
        obj["generatorURL"] = draw(st.one_of(st.none(), safe_text, st.just("h" * limits.MAX_GENERATOR_URL_BYTES)))
    # Keys the format ignores: Alertmanager's own output fields, and anything at all.
    extra = draw(st.dictionaries(safe_text.filter(lambda k: k not in KNOWN_KEYS), junk, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        extra["status"] = draw(junk)
        extra["fingerprint"] = draw(junk)
    obj.update({k: v for k, v in extra.items() if k not in KNOWN_KEYS})
    if not _size_ok(labels, obj.get("annotations") or {}, obj.get("generatorURL")):
        obj["annotations"] = {}
        obj.pop("generatorURL", None)
        if not _size_ok(labels, {}, None):  # cannot happen with these caps, but stay exact
            labels = {FUZZ_LABEL: fuzz_id}
            obj["labels"] = labels
    items = list(obj.items())
    draw(st.randoms(use_true_random=False)).shuffle(items)
    text = dumps(dict(items), ascii_only=draw(st.booleans()), indent=draw(st.sampled_from([None, None, 0, 2])))
    style = draw(st.sampled_from(["plain"] * 6 + ["dup_labels", "deep_junk", "whitespace"]))
    if style == "dup_labels":  # duplicate key: the last one counts
        text = '{"labels": ' + dumps(draw(junk), True) + ", " + text[1:]
    elif style == "deep_junk":  # nesting well inside the parser's limit, in an ignored key
        depth = draw(st.integers(50, 400))
        text = '{"deep": ' + "[" * depth + "]" * depth + ", " + text[1:]
    elif style == "whitespace":
        text = " \n\t\r" + text + "\r\n "
    expected = {k: v for k, v in labels.items() if v != ""}
    return Item(text, True, fuzz_id, expected)


GARBAGE_KINDS = [
    "not_object", "labels_missing", "labels_wrong_type", "labels_empty", "label_bad_name", "label_bad_value",
    "label_too_long", "too_many_labels", "annotation_bad_value", "annotation_bad_name", "annotation_too_long",
    "bad_starts", "bad_ends", "ends_before_starts", "future_start_only", "url_wrong_type", "url_too_long",
    "alert_too_large", "dup_labels_last_bad",
]


@st.composite
def garbage_alert(draw, run: str) -> Item:
    """An alert the bridge must refuse; where it has a labels object, a fuzz_id that must never appear."""
    kind = draw(st.sampled_from(GARBAGE_KINDS))
    fuzz_id = f"{run}-g{uuid.uuid4().hex[:12]}"
    labels = draw(st.dictionaries(label_names, st.text(safe_chars, min_size=1, max_size=10), max_size=3))
    labels[FUZZ_LABEL] = fuzz_id
    obj: dict = {"labels": labels}
    non_string = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                           st.booleans(), st.lists(st.integers(), max_size=2), st.just({"a": "b"}))
    if kind == "not_object":
        return Item(dumps(draw(st.one_of(st.none(), st.integers(), st.booleans(), safe_text,
                                         st.lists(junk, max_size=3))), True), False)
    if kind == "labels_missing":
        obj = {"annotations": {"a": "b"}, "labels": None} if draw(st.booleans()) else {"annotations": {"a": "b"}}
        return Item(dumps(obj, True), False)
    if kind == "labels_wrong_type":
        return Item(dumps({"labels": draw(st.one_of(st.integers(), safe_text, st.lists(safe_text, max_size=3),
                                                    st.booleans()))}, True), False)
    if kind == "labels_empty":
        obj["labels"] = draw(st.sampled_from([{}, {"a": ""}, {"a": "", "b": ""}]))
        return Item(dumps(obj, True), False)
    if kind == "label_bad_name":
        labels[draw(bad_label_names)] = "v"
    elif kind == "label_bad_value":
        labels[draw(label_names)] = draw(non_string)
    elif kind == "label_too_long":
        labels[draw(label_names)] = draw(big_text(limits.MAX_LABEL_VALUE_BYTES + 1, 3 * limits.MAX_LABEL_VALUE_BYTES))
    elif kind == "too_many_labels":
        for n in range(limits.MAX_LABELS):
            labels[f"l{n}"] = "v"
    elif kind == "annotation_bad_value":
        obj["annotations"] = {"summary": draw(non_string.filter(lambda v: v is not None))}
    elif kind == "annotation_bad_name":
        obj["annotations"] = {draw(bad_label_names): "text"}
    elif kind == "annotation_too_long":
        obj["annotations"] = {"description": "y" * (limits.MAX_ANNOTATION_VALUE_BYTES + draw(st.integers(1, 1000)))}
    elif kind == "bad_starts":
        obj["startsAt"] = draw(bad_timestamp)
    elif kind == "bad_ends":
        obj["endsAt"] = draw(bad_timestamp)
    elif kind == "ends_before_starts":
        a, b = draw(instants()), draw(instants())
        a, b = sorted([a, b], key=lambda p: p[0])
        if b[0] - a[0] < timedelta(seconds=1):
            b = (a[0] + timedelta(seconds=1), b[1])
        obj["startsAt"], obj["endsAt"] = draw(rfc3339(b)), draw(rfc3339(a))
    elif kind == "future_start_only":  # the made-up end (now + resolve_timeout) is before the start
        obj["startsAt"] = draw(rfc3339(draw(instants(lo=datetime(2090, 1, 1, tzinfo=UTC)))))
    elif kind == "url_wrong_type":
        obj["generatorURL"] = draw(non_string.filter(lambda v: v is not None))
    elif kind == "url_too_long":
        obj["generatorURL"] = "h" * (limits.MAX_GENERATOR_URL_BYTES + draw(st.integers(1, 100)))
    elif kind == "alert_too_large":  # every value within its own cap, the sum over 256 KiB
        obj["annotations"] = {f"a{n}": "z" * limits.MAX_ANNOTATION_VALUE_BYTES for n in range(4)}
        obj["annotations"]["a4"] = "z" * draw(st.integers(1, 100))
    elif kind == "dup_labels_last_bad":
        text = dumps(obj, True)
        return Item('{"labels": {"ok": "1"}, ' + text[1:].replace('"labels":', '"labels": 7, "ignored":', 1),
                    False, fuzz_id)
    return Item(dumps(obj, draw(st.booleans())), False, fuzz_id)


# --- batches and requests ------------------------------------------------------------------------

# Twists of the whole request, by weight. "escapes" adds an alert within every text cap whose
# encoded record is too large (refused alone); "max_alerts" fills a request up to the alert limit.
TWISTS = (["none"] * 28 + ["surrogate", "deep", "oversize", "too_many", "media_type", "not_array", "broken_json"] * 2
          + ["escapes"] * 4 + ["max_alerts"])
JSON_TYPES = [None, "application/json", "application/json; charset=utf-8", "text/json", "APPLICATION/JSON",
              "application/vnd.alerts+json", "application/json;charset=latin-1"]
LONE_SURROGATES = ["\\ud800", "\\udfff", "\\udbff", "x\\ud83d", "\\ude00y", "\\ud800\\ud800", "\\udc00\\ud800"]
BROKEN_JSON = [b"", b" ", b"[", b"[{]", b"[1,]", b"[{\"labels\":{}},]", b"[NaN]", b"[Infinity]", b"[1e400]",
               b"\xef\xbb\xbf[]", b"[\"\xff\"]", b"[\"\xed\xa0\x80\"]", b"[] []", b"['a']", b"[\"\x01\"]", b"\x00",
               b"[{\"labels\":{\"a\":\"b\"}}]x", b"//c\n[]", b"[\"\\x41\"]", b"[\"\\u12\"]"]


@st.composite
def hostile_requests(draw, run: str) -> HostileRequest:
    items = draw(st.lists(st.one_of(valid_alert(run), garbage_alert(run)), max_size=12))
    twist = draw(st.sampled_from(TWISTS))
    content_type = draw(st.sampled_from(JSON_TYPES))
    chunked = draw(st.integers(0, 4)) == 0  # no Content-Length: the bridge's bounded read decides
    texts = [i.text for i in items]
    whole_body_error: int | None = None
    if twist == "surrogate" and items:
        # A lone surrogate escape in an ignored key of one alert: not valid JSON text for orjson.
        at = draw(st.integers(0, len(items) - 1))
        esc = draw(st.sampled_from(LONE_SURROGATES))
        if texts[at].startswith("{"):
            texts[at] = '{"junk": "' + esc + '", ' + texts[at][1:] if texts[at] != "{}" else '{"junk": "' + esc + '"}'
        else:
            texts[at] = '"' + esc + '"'
        whole_body_error = LONE_SURROGATE_STATUS
    elif twist == "escapes":
        # One alert whose text is within every cap but made of control characters, 6 bytes each as JSON
        # (\u0001), in the request as in the stored record: sized so the body stays within its limit
        # while the record comes close to (or past) Kafka's default message size of 1,000,000 bytes.
        items, texts = items[:2], texts[:2]
        char = draw(st.sampled_from(["\x00", "\x01", "\x1b", "\x1f"]))
        escaped = draw(valid_alert(run))
        obj = json.loads(escaped.text)
        obj.pop("generatorURL", None)
        obj["annotations"] = {f"c{n}": "" for n in range(3)}
        ascii_only = draw(st.booleans())
        rest = len(dumps(obj, ascii_only).encode()) + sum(len(t.encode()) + 1 for t in texts) + 2
        room = (MAX_BODY_BYTES - rest) // (3 * 6)
        size = min(room, draw(st.one_of(st.integers(40_000, 58_000), st.integers(55_000, 58_000))))
        obj["annotations"] = {f"c{n}": char * size for n in range(3)}
        # Its record (3 × ≥40,000 escapes × 6 bytes) is over the bridge's record limit
        # (max_record_bytes, 256 KiB): that alert alone must be refused, the others stored.
        escaped = Item(dumps(obj, ascii_only), False, escaped.fuzz_id)
        at = draw(st.integers(0, len(items)))
        items.insert(at, escaped)
        texts.insert(at, escaped.text)
    elif twist == "max_alerts":
        # Exactly the per-request alert limit (valid and invalid alerts count alike).
        garbage_share = draw(st.sampled_from([0.0, 0.0, 0.01, 0.3]))
        if garbage_share == 0.0:
            items = [i for i in items if i.valid]
            texts = [i.text for i in items]
        pick = random.Random(draw(st.integers(0, 2**32)))  # one draw, not 1000
        for _ in range(MAX_ALERTS - len(items)):
            fuzz_id = f"{run}-{uuid.uuid4().hex[:12]}"
            if pick.random() >= garbage_share:
                items.append(Item(dumps({"labels": {FUZZ_LABEL: fuzz_id, "n": "1"}}, True), True, fuzz_id,
                                  {FUZZ_LABEL: fuzz_id, "n": "1"}))
            else:
                items.append(Item(dumps({"labels": {FUZZ_LABEL: fuzz_id, "n": 1}}, True), False, fuzz_id))
            texts.append(items[-1].text)
    elif twist == "deep":
        depth = draw(st.integers(MAX_DEPTH + 1, 20_000))
        texts.insert(draw(st.integers(0, len(texts))), "[" * depth + "]" * depth)
        whole_body_error = 400
    body = ("[" + ",".join(texts) + "]").encode("utf-8")
    if twist == "oversize":
        pad = MAX_BODY_BYTES + 1 - len(body) + draw(st.integers(0, 4096))
        body = b"[" + b" " * max(pad, 0) + body[1:]
        whole_body_error = 413
    elif twist == "too_many":
        body = ("[" + ",".join(texts + ['{"labels":{"a":"b"}}'] * (MAX_ALERTS + 1 - len(texts))) + "]").encode()
        whole_body_error = 413
    elif twist == "media_type":
        content_type = draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                             "application/xml", "application/jsonp", "json", "*/*"]))
        whole_body_error = 415
    elif twist == "not_array":
        body = draw(st.sampled_from([b"{}", b"null", b"1", b'"[]"', b"true", b'{"alerts": ' + body + b"}"]))
        whole_body_error = 400
    elif twist == "broken_json":
        body = draw(st.sampled_from(BROKEN_JSON))
        whole_body_error = 400
    if len(body) > MAX_BODY_BYTES and whole_body_error != 415:
        whole_body_error = 413
    if whole_body_error is not None:
        return HostileRequest(body, content_type, chunked, items, whole_body_error, [], [], twist)
    invalid = [n for n, i in enumerate(items) if not i.valid]
    return HostileRequest(body, content_type, chunked, items, 400 if invalid else 200,
                          [i for i in items if i.valid], invalid, twist)


# --- generic source bodies ----------------------------------------------------------------------

# OPEN_SOURCES' "items" mapping: alerts at items[], labels alertname=title and service=service,
# annotation summary=message, status from state ("open" firing, "closed" resolved).
GENERIC_KEYS = ["title", "service", "message", "state"]
generic_values = st.one_of(junk, st.sampled_from(["open", "closed", "OPEN", "", 0, 1, True]), big_text(1, 6000))


@st.composite
def generic_item(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(junk)  # not an object
    item = draw(st.dictionaries(st.sampled_from(GENERIC_KEYS), generic_values, max_size=4))
    item.update(draw(st.dictionaries(safe_text.filter(lambda k: k not in GENERIC_KEYS), junk, max_size=2)))
    return item


@st.composite
def generic_bodies(draw):
    """Bodies for the generic source: mostly {"items": [...]}, sometimes a body without that list."""
    if draw(st.integers(0, 9)) == 0:
        return draw(junk)
    body = {"items": draw(st.lists(generic_item(), max_size=8))}
    body.update(draw(st.dictionaries(safe_text.filter(lambda k: k != "items"), junk, max_size=2)))
    return body
