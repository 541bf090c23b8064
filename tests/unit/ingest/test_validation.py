"""Alertmanager's validation messages, our caps, and Go-style quoting."""

import pytest

from pipeline.ingest import limits
from pipeline.ingest.errors import InvalidAlert
from pipeline.ingest.normalize import normalize
from pipeline.ingest.text import go_quote, is_valid_utf8, utf8_size
from pipeline.ingest.validation import validate_alert

from .support import LABELS, NOW, RESOLVE_TIMEOUT, at, raw_alert


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"starts_at": at(10), "ends_at": at(5)}, "start time must be before end time"),
        # A start beyond now + resolve_timeout is after the made-up end, as in Alertmanager.
        ({"starts_at": at(6)}, "start time must be before end time"),
        ({"labels": {"foo-bar": "x"}}, 'invalid label set: invalid name "foo-bar"'),
        ({"labels": {"0abc": "x"}}, 'invalid label set: invalid name "0abc"'),
        ({"labels": {"": "x"}}, 'invalid label set: invalid name ""'),
        ({"labels": {"a\n": "x"}}, 'invalid label set: invalid name "a\\n"'),
        ({"labels": {"é": "x"}}, 'invalid label set: invalid name "é"'),
        ({"labels": {"a": "bad\ud800"}}, 'invalid label set: invalid value "bad\\ud800"'),
        ({"labels": {}}, "at least one label pair required"),
        ({"labels": {"alertname": ""}}, "at least one label pair required"),
        ({"annotations": {"run book": "x"}}, 'invalid annotations: invalid name "run book"'),
        ({"annotations": {"summary": "\udfff"}}, 'invalid annotations: invalid value "\\udfff"'),
        ({"generator_url": "http://x/\ud800"}, 'invalid generator URL "http://x/\\ud800"'),
        ({"status": "FIRING"}, 'invalid status "FIRING": must be "firing", "resolved" or absent'),
        ({"status": ""}, 'invalid status "": must be "firing", "resolved" or absent'),
    ],
)
def test_alertmanager_validation_messages(fields, message):
    with pytest.raises(InvalidAlert) as info:
        normalize(raw_alert(**fields), RESOLVE_TIMEOUT)
    assert str(info.value) == message


def test_labels_are_checked_before_the_label_count_and_annotations_last():
    # types.Alert.Validate's order: times, label set, label count, annotations.
    with pytest.raises(InvalidAlert, match=r"^invalid label set"):
        normalize(raw_alert(labels={"a-b": "x"}, annotations={"c d": "y"}), RESOLVE_TIMEOUT)
    with pytest.raises(InvalidAlert, match=r"^start time"):
        normalize(raw_alert(labels={}, starts_at=at(10), ends_at=at(1)), RESOLVE_TIMEOUT)


def test_first_invalid_label_in_name_order_is_reported():
    with pytest.raises(InvalidAlert, match='invalid name "b-b"'):
        normalize(raw_alert(labels={"c-c": "x", "b-b": "y", "a": "z"}), RESOLVE_TIMEOUT)


def test_empty_label_values_are_removed_before_validation():
    alert = normalize(
        raw_alert(labels={"alertname": "X", "bad-name": "", "env": ""}), RESOLVE_TIMEOUT
    )
    assert alert.labels == {"alertname": "X"}


def test_empty_annotation_values_are_kept():
    alert = normalize(raw_alert(annotations={"summary": ""}), RESOLVE_TIMEOUT)
    assert alert.annotations == {"summary": ""}


def test_start_time_missing_is_alertmanagers_first_check():
    # Unreachable after normalize fills the start, but kept as Alertmanager has it.
    with pytest.raises(InvalidAlert, match=r"^start time missing$"):
        validate_alert(None, None, LABELS, {})
    validate_alert(NOW, None, LABELS, {})  # open-ended is valid
    validate_alert(NOW, NOW, LABELS, {})  # equal times are valid


def _big(size: int) -> str:
    return "x" * size


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"labels": {f"l{i}": "v" for i in range(limits.MAX_LABELS + 1)}},
            f"too many labels: {limits.MAX_LABELS + 1} (max {limits.MAX_LABELS})",
        ),
        (
            {"annotations": {f"a{i}": "v" for i in range(limits.MAX_ANNOTATIONS + 1)}},
            f"too many annotations: {limits.MAX_ANNOTATIONS + 1} (max {limits.MAX_ANNOTATIONS})",
        ),
        (
            {"labels": {_big(limits.MAX_NAME_BYTES + 1): "v"}},
            f'label name "{_big(256)}"... (1025 characters) too long: '
            "1025 characters (max 1024 bytes)",
        ),
        (
            {"labels": {"a": _big(limits.MAX_LABEL_VALUE_BYTES + 1)}},
            'label value of "a" too long: 4097 characters (max 4096 bytes)',
        ),
        (
            # 2-byte characters: under the cap in characters, over it in bytes.
            {"labels": {"a": "é" * (limits.MAX_LABEL_VALUE_BYTES // 2 + 1)}},
            'label value of "a" too long: 4098 bytes (max 4096)',
        ),
        (
            {"annotations": {"d": _big(limits.MAX_ANNOTATION_VALUE_BYTES + 1)}},
            'annotation value of "d" too long: 65537 characters (max 65536 bytes)',
        ),
        (
            {"generator_url": _big(limits.MAX_GENERATOR_URL_BYTES + 1)},
            "generator URL too long: 16385 characters (max 16384 bytes)",
        ),
        (
            {"annotations": {f"a{i}": _big(limits.MAX_ANNOTATION_VALUE_BYTES) for i in range(4)}},
            # 29 bytes of LABELS, 4 * (2-byte name + 64 KiB value)
            "alert too large: labels, annotations and generator URL take 262181 bytes (max 262144)",
        ),
    ],
)
def test_caps(fields, message):
    with pytest.raises(InvalidAlert) as info:
        normalize(raw_alert(**fields), RESOLVE_TIMEOUT)
    assert str(info.value) == message


def test_caps_are_inclusive():
    labels = {f"l{i}": "v" for i in range(limits.MAX_LABELS - 1)}
    labels["n" * limits.MAX_NAME_BYTES] = "é" * (limits.MAX_LABEL_VALUE_BYTES // 2)
    annotations = {f"a{i}": "" for i in range(limits.MAX_ANNOTATIONS - 1)}
    annotations["description"] = "d" * limits.MAX_ANNOTATION_VALUE_BYTES
    alert = normalize(
        raw_alert(
            labels=labels,
            annotations=annotations,
            generator_url="u" * limits.MAX_GENERATOR_URL_BYTES,
        ),
        RESOLVE_TIMEOUT,
    )
    assert len(alert.labels) == limits.MAX_LABELS
    assert len(alert.annotations) == limits.MAX_ANNOTATIONS


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
        ("ünïcødé ✓", '"ünïcødé ✓"'),
        ("\u00a0\u200b", '"\\u00a0\\u200b"'),
        ("\ud800", '"\\ud800"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("y" * 300, '"' + "y" * 256 + '"... (300 characters)'),
    ],
)
def test_go_quote(text, quoted):
    assert go_quote(text) == quoted
    assert is_valid_utf8(go_quote(text))


def test_utf8_helpers():
    assert is_valid_utf8("ascii") and is_valid_utf8("é✓🙂")
    assert not is_valid_utf8("a\ud83d")
    assert utf8_size("é✓🙂") == 2 + 3 + 4
    assert utf8_size("\ud800") == 3
