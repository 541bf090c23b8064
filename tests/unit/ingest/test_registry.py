"""The format registry and the error types the bridge builds its answers from."""

import inspect

import pytest

from pipeline.ingest import FORMATS, AlertProblem, PayloadError, multi_error_text
from pipeline.ingest.formats import alertmanager_v2
from pipeline.models import KNOWN_SOURCE_FORMATS

from .support import LABELS, parse_kwargs


def test_registry_keys_are_the_source_types():
    assert set(FORMATS) == {"alertmanager-v2", "alertmanager-webhook", "grafana", "generic"}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_has_a_known_source_format_and_the_shared_signature(name):
    module = FORMATS[name]
    assert module.SOURCE_FORMAT in KNOWN_SOURCE_FORMATS
    parameters = inspect.signature(module.parse).parameters
    assert list(parameters)[:4] == ["payload", "source", "received_at", "resolve_timeout"]
    assert all(
        parameters[key].kind is inspect.Parameter.KEYWORD_ONLY for key in list(parameters)[1:]
    )


def test_webhook_source_format_names_the_payload_version():
    assert FORMATS["alertmanager-webhook"].SOURCE_FORMAT == "alertmanager-webhook-v4"


def test_unknown_format_option_is_a_type_error_not_ignored():
    with pytest.raises(TypeError):
        alertmanager_v2.parse([], **parse_kwargs(mapping=None))


def test_generic_needs_its_mapping():
    with pytest.raises(TypeError):
        FORMATS["generic"].parse({}, **parse_kwargs())


def test_bridge_answer_for_a_partial_batch_reads_like_alertmanagers():
    batch = alertmanager_v2.parse(
        [{"labels": {"a-b": "x"}}, {"labels": LABELS}, {"labels": {}}], **parse_kwargs()
    )
    assert len(batch.alerts) == 1
    assert multi_error_text(batch.problems) == (
        'invalid label set: invalid name "a-b"; at least one label pair required'
    )


def test_payload_error_carries_status_and_message():
    error = PayloadError("no good", status=422)
    assert (error.status, error.message, str(error)) == (422, "no good", "no good")
    assert PayloadError("bad").status == 400
    assert isinstance(error, ValueError)
    with pytest.raises(ValueError):
        PayloadError("x", status=500)


def test_alert_problem_is_a_value():
    assert AlertProblem(1, "r") == AlertProblem(1, "r")
    assert hash(AlertProblem(1, "r")) == hash(AlertProblem(1, "r"))
