import pytest

from pipeline.classification.config import ClassificationFileError, parse_classification_file
from pipeline.classification.rules import classify_by_rules
from pipeline.paths import REPO_ROOT
from pipeline.classification.config import load_classification_file

FILE = """
classification:
  severity_priorities: {page: P0, critical: P1, warning: P3, info: P4}
  labels: {priority: prio, category: category, team: owner, auto_incident: incident}
  defaults: {priority: P2, category: misc, team: ops}
  rules:
    - name: security
      match: ['alertname=~"(?i).*intrusion.*"']
      category: security
      tags: [sec]
      continue: true
    - name: payments
      match: ['service="payments"', 'env="prod"']
      priority: P1
      team: payments
      tags: [money, sec]
    - name: quiet
      match: ['alertname="Watchdog"']
      priority: P0
      auto_incident: false
"""


def classify(**labels):
    return classify_by_rules(labels, parse_classification_file(FILE).classification)


def test_severity_mapping_is_the_default_priority_and_case_insensitive():
    assert classify(alertname="A", severity="page").classification.priority == "P0"
    assert classify(alertname="A", severity="Critical").classification.priority == "P1"
    assert classify(alertname="A", severity="warning").classification.priority == "P3"
    assert classify(alertname="A", severity="info").classification.priority == "P4"
    unknown = classify(alertname="A", severity="bogus").classification
    assert (unknown.priority, unknown.reason) == ("P2", "default (severity=bogus)")
    assert classify(alertname="A").classification.reason == "default (no severity label)"


def test_auto_incident_defaults_to_p0_and_p1_and_a_rule_can_override_it():
    assert classify(alertname="A", severity="page").classification.auto_incident is True
    assert classify(alertname="A", severity="critical").classification.auto_incident is True
    assert classify(alertname="A", severity="warning").classification.auto_incident is False
    assert classify(alertname="Watchdog").classification.auto_incident is False


def test_first_matching_rule_wins_and_all_its_matchers_must_match():
    staging = classify(alertname="A", service="payments", env="staging", severity="warning").classification
    assert (staging.priority, staging.team) == ("P3", "ops")
    prod = classify(alertname="A", service="payments", env="prod", severity="info").classification
    assert (prod.priority, prod.team, prod.reason) == ("P1", "payments", "rule payments")


def test_continue_lets_later_rules_fill_unset_fields_only():
    result = classify(alertname="IntrusionDetected", service="payments", env="prod")
    c = result.classification
    assert (c.category, c.priority, c.team) == ("security", "P1", "payments")
    assert c.tags == ["sec", "money"]  # union, first seen first, no duplicates
    assert result.matched_rules == ("security", "payments")


def test_results_are_written_under_the_configured_label_names():
    labels = classify(alertname="A", service="payments", env="prod").labels
    assert labels["prio"] == "P1" and labels["owner"] == "payments" and labels["category"] == "misc"
    assert labels["incident"] == "true"
    assert "priority" not in labels and "team" not in labels


def test_existing_labels_of_the_sender_are_used_when_no_rule_decides():
    c = classify(alertname="A", prio="P0", owner="dba", category="storage", severity="info").classification
    assert (c.priority, c.team, c.category) == ("P0", "dba", "storage")
    assert c.reason == "label prio=P0"
    # An invalid priority label is not trusted; the severity mapping decides.
    assert classify(alertname="A", prio="urgent", severity="info").classification.priority == "P4"


def test_empty_team_removes_the_label_rather_than_writing_an_empty_one():
    config = parse_classification_file("classification: {defaults: {team: ''}}").classification
    labels = classify_by_rules({"alertname": "A", "team": ""}, config).labels
    assert "team" not in labels


@pytest.mark.parametrize("text, fragment", [
    ("classification: {rules: [{name: a, match: ['x=~\"(\"']}]}", "classification.rules.0.match"),
    ("classification: {rules: [{name: a, match: ['x=1'], priority: P9}]}", "classification.rules.0.priority"),
    ("classification: {rules: [{name: a, match: 'x=1'}, {name: a, match: 'y=1'}]}", "used twice"),
    ("classification: {severity_priorities: {critical: urgent}}", "severity_priorities.critical"),
    ("classification: {labels: {prio: x}}", "classification.labels.prio"),
    ("classification: {rules: [{name: a, match: ['x=1'], colour: red}]}", "colour"),
    ("- not a mapping", "expected a mapping"),
    ("a: [", "not valid YAML"),
])
def test_invalid_files_are_refused_with_the_key_path(text, fragment):
    with pytest.raises(ClassificationFileError, match="where.yaml") as caught:
        parse_classification_file(text, "where.yaml")
    assert fragment in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ClassificationFileError, match="cannot read"):
        load_classification_file(tmp_path / "absent.yaml")


def test_the_shipped_example_file_loads_and_classifies():
    config = load_classification_file(REPO_ROOT / "deploy" / "local" / "classification.yaml").classification
    db = classify_by_rules({"alertname": "PostgresDown", "severity": "warning"}, config).classification
    assert (db.priority, db.team, db.auto_incident) == ("P0", "database", True)
