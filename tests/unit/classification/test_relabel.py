from datetime import datetime, timedelta, timezone

import orjson
import pytest

from pipeline import wire
from pipeline.classification.config import ClassificationFileError, parse_classification_file
from pipeline.classification.relabel import DroppedAlert, relabel
from pipeline.fingerprint import alert_fingerprint
from pipeline.models import AlertEvent
from pipeline.stages.normalize import Normalized, normalize_record


def rules(yaml_text: str):
    return parse_classification_file(yaml_text, "test.yaml").relabel


def test_add_sets_a_missing_label_and_overwrites_only_when_asked():
    r = rules("relabel: [{action: add, label: env, value: prod}]")
    assert relabel({"a": "1"}, r) == {"a": "1", "env": "prod"}
    assert relabel({"env": "dev"}, r) == {"env": "dev"}
    r = rules("relabel: [{action: add, label: env, value: prod, overwrite: true}]")
    assert relabel({"env": "dev"}, r) == {"env": "prod"}


def test_replace_expands_groups_and_leaves_labels_alone_without_a_match():
    r = rules(r"""relabel:
  - {action: replace, source_labels: [instance], regex: '([^:]+):(?P<port>\d+)', target: host, replacement: '$1'}
  - {action: replace, source_labels: [instance], regex: '([^:]+):(?P<port>\d+)', target: port, replacement: 'p${2}$$'}
  - {action: replace, source_labels: [job, env], separator: '/', target: scope}
""")
    assert relabel({"instance": "db1:9100", "job": "node", "env": "prod"}, r) == {
        "instance": "db1:9100", "host": "db1", "port": "p9100$", "job": "node", "env": "prod", "scope": "node/prod"}
    # The regex is anchored (Prometheus and Alertmanager anchor too): no port, no host.
    assert relabel({"instance": "db1"}, r) == {"instance": "db1", "scope": "/"}


def test_replace_with_an_empty_result_removes_the_target():
    r = rules("relabel: [{action: replace, source_labels: [missing], regex: '(.*)', target: team}]")
    assert relabel({"team": "x"}, r) == {}


def test_drop_label_by_name_and_by_regex():
    r = rules("relabel: [{action: drop_label, labels: [pod], regex: '__.*|tmp_.*'}]")
    assert relabel({"pod": "p", "__meta": "m", "tmp_x": "t", "keep": "k"}, r) == {"keep": "k"}


def test_map_values_replaces_known_values_and_empty_means_remove():
    r = rules("relabel: [{action: map, label: severity, values: {crit: critical, debug: ''}}]")
    assert relabel({"severity": "crit"}, r) == {"severity": "critical"}
    assert relabel({"severity": "debug"}, r) == {}
    assert relabel({"severity": "warning"}, r) == {"severity": "warning"}


def test_copy_source_to_target_respecting_overwrite():
    r = rules("relabel: [{action: copy, source: kubernetes_namespace, target: namespace, overwrite: false}]")
    assert relabel({"kubernetes_namespace": "a"}, r) == {"kubernetes_namespace": "a", "namespace": "a"}
    assert relabel({"kubernetes_namespace": "a", "namespace": "b"}, r)["namespace"] == "b"
    assert relabel({"namespace": "b"}, r) == {"namespace": "b"}


def test_keep_and_drop_alerts_by_matcher_name_the_rule():
    r = rules("""relabel:
  - {action: keep, match: ['env=~"prod|staging"']}
  - {action: drop, match: ['alertname="Noise"', 'env="staging"']}
""")
    assert relabel({"env": "dev"}, r) == DroppedAlert(0, "keep")
    assert relabel({"env": "staging", "alertname": "Noise"}, r) == DroppedAlert(1, "drop")
    assert relabel({"env": "prod", "alertname": "Noise"}, r) == {"env": "prod", "alertname": "Noise"}


def test_rules_run_in_order_and_if_sees_the_labels_as_they_are_then():
    r = rules("""relabel:
  - {action: map, label: severity, values: {crit: critical}}
  - {action: add, label: page, value: 'yes', if: ['severity="critical"']}
  - {action: drop_label, labels: [severity]}
""")
    assert relabel({"severity": "crit"}, r) == {"page": "yes"}


@pytest.mark.parametrize("text, fragment", [
    ("relabel: [{action: rename, label: a}]", "relabel.0"),
    ("relabel: [{action: add, label: '1bad', value: x}]", "relabel.0.add.label"),
    ("relabel: [{action: replace, source_labels: [a], regex: '(', target: b}]", "invalid regex"),
    ("relabel: [{action: replace, source_labels: [a], regex: '(a)', target: b, replacement: '$2'}]",
     "does not capture"),
    ("relabel: [{action: replace, source_labels: [a], regex: '(?=x)', target: b}]", "invalid regex"),
    ("relabel: [{action: drop_label}]", "needs `labels`"),
    ("relabel: [{action: replace, source_labels: [a], regex: '(?P<x>a)', target: b, replacement: '${y}'}]",
     "refers to ${y}, which the regex '(?P<x>a)' does not capture"),
    ("relabel: [{action: replace, source_labels: [a], regex: '(a)', target: b, replacement: '$1x'}]",
     "write ${1}x"),  # Go reads $1x as the group named 1x
    ("relabel: [{action: keep, match: ['a=~\"[\"']}]", "relabel.0.keep.match"),
    ("relabel: [{action: map, label: a, values: {}}]", "relabel.0.map.values"),
])
def test_invalid_rules_are_refused_at_start_up_with_the_rule_index(text, fragment):
    with pytest.raises(ClassificationFileError) as caught:
        rules(text)
    assert fragment in str(caught.value)


def test_replacement_names_groups_as_go_does():
    r = rules("""relabel:
  - {action: replace, source_labels: [instance], regex: '(?P<host>[^:]+):(?P<port>\\d+)', target: where,
     replacement: '$host/${port}x/$$'}
""")
    assert relabel({"instance": "db1:9100"}, r)["where"] == "db1/9100x/$"


NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def raw(labels):
    return orjson.dumps({"labels": labels, "startsAt": "2024-05-01T11:59:00Z"})


def test_normalize_stage_relabels_before_the_fingerprint_and_drops_without_dead_lettering():
    r = rules("""relabel:
  - {action: drop_label, labels: [pod]}
  - {action: drop, match: ['env="sandbox"']}
""")
    kwargs = dict(timestamp=NOW, resolve_timeout=timedelta(minutes=5), max_bytes=100_000, relabel_rules=r)
    first = normalize_record(raw({"alertname": "A", "pod": "p-1"}), **kwargs)
    second = normalize_record(raw({"alertname": "A", "pod": "p-2"}), **kwargs)
    assert isinstance(first, Normalized) and isinstance(second, Normalized)
    assert first.key == second.key == alert_fingerprint({"alertname": "A"}).encode()
    assert first.event.alert.labels == {"alertname": "A"}
    assert normalize_record(raw({"alertname": "A", "env": "sandbox"}), **kwargs) == DroppedAlert(1, "drop")
    without_rules = normalize_record(raw({"alertname": "A", "pod": "p-1"}), **{**kwargs, "relabel_rules": ()})
    assert without_rules.event.alert.labels == {"alertname": "A", "pod": "p-1"}
