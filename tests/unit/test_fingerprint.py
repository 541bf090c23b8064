"""Alertmanager fingerprint: known vectors and an independent reference implementation."""

import pytest

from pipeline.fingerprint import alert_fingerprint


def reference_fingerprint(labels: dict[str, str]) -> str:
    """FNV-1a 64 written out as the spec reads, byte by byte, sorting on bytes."""
    h = 0xCBF29CE484222325
    for name, value in sorted((n.encode("utf-8"), v.encode("utf-8")) for n, v in labels.items()):
        for chunk in (name, b"\xff", value, b"\xff"):
            for byte in chunk:
                h ^= byte
                h = (h * 0x100000001B3) % 2**64
    return format(h, "016x")


# prometheus/common model/signature_test.go TestLabelsToSignature and
# model/labelset_test.go TestMetricToFingerprint.
PROMETHEUS_VECTORS = [
    ({}, 14695981039346656037),
    ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
]


@pytest.mark.parametrize(("labels", "expected"), PROMETHEUS_VECTORS)
def test_matches_prometheus_common_vectors(labels, expected):
    assert alert_fingerprint(labels) == f"{expected:016x}"


def test_empty_label_set_is_the_fnv_offset_basis():
    assert alert_fingerprint({}) == "cbf29ce484222325"


LABEL_SETS = [
    {"alertname": "HighLatency"},
    {"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
    {"a": ""},
    {"": ""},
    {"zeta": "1", "Alpha": "2", "alpha": "3", "_x": "4"},  # bytewise: uppercase < '_' < lowercase
    {"job": "ñandú", "instance": "10.0.0.1:9100", "emoji": "🔥"},
    {"ä": "1", "z": "2"},  # non-ASCII name sorts after ASCII
    {f"label_{i}": "v" * i for i in range(40)},
]


@pytest.mark.parametrize("labels", LABEL_SETS)
def test_agrees_with_reference_implementation(labels):
    assert alert_fingerprint(labels) == reference_fingerprint(labels)


def test_separator_keeps_name_value_boundaries_apart():
    assert alert_fingerprint({"a": "bc"}) != alert_fingerprint({"ab": "c"})
    assert alert_fingerprint({"a": ""}) != alert_fingerprint({})


def test_independent_of_insertion_order():
    labels = {"b": "2", "a": "1", "c": "3"}
    assert alert_fingerprint(labels) == alert_fingerprint(dict(sorted(labels.items())))


def test_format_is_16_lowercase_hex_digits():
    fp = alert_fingerprint({"alertname": "x"})
    assert len(fp) == 16 and fp == fp.lower() and int(fp, 16) >= 0
