"""Hostile input: every parser and normalize raise PayloadError or InvalidAlert, nothing else.

The bridge answers whatever arrives on the internet and the normalize stage
reads whatever producers write to Kafka; neither may crash, hang or balloon.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import wire
from pipeline.ingest.errors import AlertProblem, InvalidAlert, PayloadError
from pipeline.ingest.formats import FORMATS, GenericMapping, ParsedBatch
from pipeline.ingest.normalize import normalize
from pipeline.ingest.text import is_valid_utf8
from pipeline.models import RawAlert

from .support import LABELS, RESOLVE_TIMEOUT, parse_kwargs

MAPPINGS = [
    GenericMapping(),
    GenericMapping.model_validate(
        {
            "alerts": "items",
            "labels": {"alertname": "title", "service": "tags.service", "first": "list[0]"},
            "labels_from": "tags",
            "annotations": {"summary": "message", "detail": "detail"},
            "annotations_from": "extra",
            "static_labels": {"source_system": "x"},
            "status": {"path": "state", "firing": ["on", "1"], "resolved": ["off"]},
            "starts_at": "start",
            "ends_at": "end",
            "generator_url": "url",
            "severity": {"path": "prio", "map": {"1": "critical"}, "default": "warning"},
        }
    ),
    GenericMapping.model_validate(
        {"alerts": "data.alerts[*].body", "labels": {"alertname": "length(@)", "m": "max(values)"}}
    ),
]

# Text with far more lone surrogates, control characters and label-ish names
# than hypothesis would draw by default.
characters = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from('az_09-. \n"\\'),
)
texts = st.text(characters, max_size=12)
names = st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), texts)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    texts,
    st.sampled_from(["firing", "resolved", "on", "off", "1", "4", "0001-01-01T00:00:00Z"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(names, children, max_size=4)
    ),
    max_leaves=20,
)
rfc3339_texts = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11, minutes=-30))])
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
timestamps = st.one_of(
    rfc3339_texts, rfc3339_texts, st.integers(min_value=-(10**20), max_value=10**20), json_values
)
# Mostly well-formed label sets, so that many alerts get all the way through
# normalize, with hostile names, values and shapes mixed in.
good_label_sets = st.dictionaries(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True),
    st.text(max_size=12),
    min_size=1,
    max_size=5,
)
string_maps = st.one_of(
    good_label_sets,
    good_label_sets,
    st.dictionaries(names, st.one_of(texts, json_values), max_size=5),
    json_values,
)
clean_texts = st.text(max_size=20)
# An alert every parser accepts, bar clashing times: so that the properties
# are also checked on what goes to Kafka, not only on problems.
valid_alert_object = st.fixed_dictionaries(
    {"labels": good_label_sets},
    optional={
        "annotations": st.dictionaries(st.sampled_from(["summary", "description"]), clean_texts),
        "startsAt": rfc3339_texts,
        "endsAt": st.one_of(rfc3339_texts, st.just("0001-01-01T00:00:00Z")),
        "generatorURL": clean_texts,
        "status": st.sampled_from(["firing", "resolved"]),
        "values": st.dictionaries(st.sampled_from("ABC"), st.floats(allow_nan=False)),
        "silenceURL": clean_texts,
        "title": clean_texts,
        "tags": good_label_sets,
        "state": st.sampled_from(["on", "off", "1"]),
        "start": st.integers(min_value=0, max_value=2**40),
    },
)
hostile_alert_object = st.fixed_dictionaries(
    {"labels": string_maps},
    optional={
        "annotations": string_maps,
        "startsAt": timestamps,
        "endsAt": timestamps,
        "generatorURL": st.one_of(texts, json_values),
        "status": st.one_of(st.sampled_from(["firing", "resolved", "pending"]), json_values),
        "fingerprint": json_values,
        # Grafana's extras
        "silenceURL": st.one_of(texts, json_values),
        "values": st.one_of(st.dictionaries(texts, st.floats()), json_values),
        "valueString": json_values,
        # generic mappings' paths
        "title": json_values,
        "tags": string_maps,
        "extra": string_maps,
        "state": st.one_of(st.sampled_from(["on", "off", "1"]), json_values),
        "start": timestamps,
        "end": timestamps,
        "prio": json_values,
        "url": st.one_of(texts, json_values),
        "list": json_values,
    },
)
alert_object = st.one_of(valid_alert_object, hostile_alert_object)
alert_lists = st.lists(st.one_of(alert_object, alert_object, alert_object, json_values), max_size=5)


def webhook_payloads(version: str) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {
            "version": st.one_of(st.just(version), st.just(version), st.just(version), json_values),
            "alerts": st.one_of(alert_lists, alert_lists, alert_lists, json_values),
        },
        optional={"orgId": json_values, "evalMatches": json_values, "ruleId": json_values},
    )


generic_payloads = st.one_of(
    alert_object,
    st.fixed_dictionaries({"items": st.one_of(alert_lists, json_values)}),
    st.fixed_dictionaries(
        {
            "data": st.fixed_dictionaries(
                {
                    "alerts": st.lists(
                        st.fixed_dictionaries({"body": st.one_of(alert_object, json_values)}),
                        max_size=3,
                    )
                }
            )
        }
    ),
)
PAYLOADS = {
    "alertmanager-v2": alert_lists,
    "alertmanager-webhook": webhook_payloads("4"),
    "grafana": webhook_payloads("1"),
    "generic": generic_payloads,
}

PARSE_CALLS = [pytest.param(name, {}, id=name) for name in FORMATS if name != "generic"] + [
    pytest.param("generic", {"mapping": mapping}, id=f"generic-{i}")
    for i, mapping in enumerate(MAPPINGS)
]


def check_batch(batch: ParsedBatch) -> None:
    """What a parser returns is well-formed and safe to write to Kafka."""
    assert isinstance(batch, ParsedBatch)
    for problem in batch.problems:
        assert isinstance(problem, AlertProblem) and isinstance(problem.index, int)
        assert is_valid_utf8(problem.reason)
        assert len(problem.reason) < 2000
    indices = [problem.index for problem in batch.problems]
    assert indices == sorted(set(indices))
    for raw in batch.alerts:
        assert isinstance(raw, RawAlert)
        # The wire is UTF-8: a lone surrogate here would crash the producer.
        wire.encode(raw)
        assert normalize(raw, RESOLVE_TIMEOUT).fingerprint == raw.fingerprint


@pytest.mark.parametrize(("name", "options"), PARSE_CALLS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parsers_raise_nothing_but_payload_error(name, options, data):
    # Well-formed-ish payloads of this format, or anything at all.
    payload = data.draw(st.one_of(PAYLOADS[name], PAYLOADS[name], PAYLOADS[name], json_values))
    try:
        batch = FORMATS[name].parse(payload, **parse_kwargs(**options))
    except PayloadError as exc:
        assert exc.status in (400, 422) and is_valid_utf8(exc.message)
        return
    check_batch(batch)
    if name == "alertmanager-v2":  # every element is accepted or has its problem
        assert len(batch.alerts) + len(batch.problems) == len(payload)


raw_alerts = st.builds(
    RawAlert,
    labels=st.dictionaries(names, texts, max_size=6),
    annotations=st.dictionaries(names, texts, max_size=4),
    starts_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    ends_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    generator_url=st.one_of(st.none(), texts),
    status=st.one_of(st.none(), st.sampled_from(["firing", "resolved"]), texts),
    fingerprint=st.one_of(st.none(), texts),
    source=texts,
    source_format=texts,
    received_at=st.datetimes(timezones=st.just(UTC)),
)


@given(
    raw=raw_alerts,
    resolve_timeout=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
)
@settings(max_examples=500, deadline=None)
def test_normalize_raises_nothing_but_invalid_alert(raw, resolve_timeout):
    try:
        alert = normalize(raw, resolve_timeout)
    except InvalidAlert as exc:
        assert is_valid_utf8(str(exc))
        return
    wire.encode(alert)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": [value]}
    return value


DEEP = nested(sys.getrecursionlimit() * 3)
HUGE = "x" * (8 * 1024 * 1024)


@pytest.mark.parametrize(
    "item",
    [
        {"labels": DEEP},
        {"labels": {"alertname": DEEP}},
        {"labels": LABELS, "annotations": {"deep": DEEP}},
        {"labels": LABELS, "startsAt": DEEP},
        {"labels": {"alertname": HUGE}},
        {"labels": {HUGE: "x"}},
        {"labels": LABELS, "annotations": {"description": HUGE}},
        {"labels": LABELS, "generatorURL": HUGE},
        {"labels": LABELS, "startsAt": HUGE},
        {"labels": {f"l{i}": "v" for i in range(100_000)}},
        {"labels": LABELS, "annotations": {f"a{i}": "v" for i in range(100_000)}},
    ],
    ids=lambda item: ",".join(item),
)
def test_deep_huge_and_wide_alerts_are_problems(item):
    batch = FORMATS["alertmanager-v2"].parse([item, {"labels": LABELS}], **parse_kwargs())
    assert [problem.index for problem in batch.problems] == [0]
    assert len(batch.problems[0].reason) < 2000
    assert len(batch.alerts) == 1


def test_deep_grafana_values_and_generic_objects_are_not_a_crash():
    grafana = {"version": "1", "alerts": [{"labels": LABELS, "status": "firing", "values": DEEP}]}
    (raw,) = FORMATS["grafana"].parse(grafana, **parse_kwargs()).alerts
    assert "grafana_values" not in raw.annotations  # too deep for JSON text: skipped

    mapping = GenericMapping.model_validate(
        {"labels": {"alertname": "n"}, "annotations": {"d": "deep"}}
    )
    (raw,) = (
        FORMATS["generic"].parse({"n": "A", "deep": DEEP}, **parse_kwargs(mapping=mapping)).alerts
    )
    assert "d" not in raw.annotations


def test_huge_generic_object_hits_the_cap():
    mapping = GenericMapping.model_validate({"labels": {"alertname": "n", "blob": "blob"}})
    payload = {"n": "A", "blob": {f"k{i}": i for i in range(10_000)}}
    batch = FORMATS["generic"].parse(payload, **parse_kwargs(mapping=mapping))
    assert batch.problems[0].reason.startswith('label value of "blob" too long')


def test_lone_surrogates_anywhere_are_problems_not_crashes():
    items = [
        {"labels": {"alertname": "\ud800"}},
        {"labels": {"\udc00": "x"}},
        {"labels": LABELS, "annotations": {"s": "\udbff"}},
        {"labels": LABELS, "generatorURL": "http://\ud800"},
        {"labels": LABELS, "startsAt": "\ud800"},
        {"labels": LABELS, "status": "\ud800"},
    ]
    batch = FORMATS["alertmanager-webhook"].parse(
        {"version": "4", "alerts": items}, **parse_kwargs()
    )
    assert [problem.index for problem in batch.problems] == list(range(len(items)))
    assert all(is_valid_utf8(problem.reason) for problem in batch.problems)


def test_huge_numbers_do_not_crash():
    digits = 10 ** (sys.get_int_max_str_digits() + 10)
    mapping = GenericMapping.model_validate(
        {"labels": {"alertname": "n", "big": "big"}, "starts_at": "big"}
    )
    batch = FORMATS["generic"].parse({"n": "A", "big": digits}, **parse_kwargs(mapping=mapping))
    assert [problem.reason for problem in batch.problems] == [
        "invalid starts_at (a huge number): out of range"
    ]


def test_year_9999_received_at_with_resolve_timeout_is_invalid():
    late = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    batch = FORMATS["alertmanager-v2"].parse(
        [{"labels": LABELS}], source="s", received_at=late, resolve_timeout=timedelta(hours=2)
    )
    assert batch.problems == [
        AlertProblem(0, "received_at plus resolve timeout is past the year 9999")
    ]
