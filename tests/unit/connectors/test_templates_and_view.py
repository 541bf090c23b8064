"""Template subset, default content (status, priority, summary, labels, links, silence link), limits."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from connectors.sinks.common import go_time, silence_url, truncate, truncate_bytes
from connectors.sinks.templates import TextTemplate
from connectors.sinks.view import HTML, NotificationView, fit_lines
from tests.unit.connectors.factories import NOW, alert, notification

DATA = {"Status": "firing", "CommonLabels": {"team": "ops"}, "GroupLabels": {}, "CommonAnnotations": {}}


def test_fields_map_keys_and_default_calls_render() -> None:
    template = TextTemplate.parse('[{{ .Status }}] {{ .CommonLabels.team }}/{{ .CommonLabels.missing }} '
                                  '{{ template "slack.default.text" . }}', "text")
    assert template.render(DATA, default="BODY") == "[firing] ops/ BODY"


def test_trim_markers_trim_like_go() -> None:
    assert TextTemplate.parse("a  {{- .Status -}}  b", "t").render(DATA) == "afiringb"


def test_values_are_escaped_but_the_template_text_is_not() -> None:
    template = TextTemplate.parse("<b>{{ .CommonLabels.team }}</b>", "message")
    assert template.render({"CommonLabels": {"team": "<x>&"}}, escape=HTML.escape) == "<b>&lt;x&gt;&amp;</b>"


@pytest.mark.parametrize("source", [
    "{{ range .Alerts }}x{{ end }}", "{{ .Status | toUpper }}", "{{ if .Status }}x{{ end }}",
    "{{ .CommonLabels.SortedPairs.Values }}", "{{ .Nope }}", '{{ template "custom" . }}', "{{ .Status",
])
def test_unsupported_actions_are_refused_naming_the_field(source: str) -> None:
    with pytest.raises(ValueError, match="^text: "):
        TextTemplate.parse(source, "text")


def test_default_view_shows_status_priority_summary_labels_and_links() -> None:
    view = NotificationView.of(notification(alert(instance="db-1"), alert(instance="db-2", priority="P0")))
    assert view.title == "[FIRING:2] P0 DiskFull"
    assert view.priority == "P0"  # the most urgent of the group
    text = "\n".join(view.lines())
    assert "Status: firing (2 firing, 0 resolved)" in text
    assert "Summary: DiskFull on db-1" in text  # first alert's summary when not common
    assert "Labels: alertname=DiskFull, team=ops" in text
    for title, url in (("Source", "http://prometheus:9090/graph?g0.expr=disk"), ("Runbook", "https://runbooks/disk"),
                       ("Alertmanager", "http://alertmanager:9093")):
        assert f"{title}: {url}" in text
    assert "- [firing] DiskFull on db-2 (instance=db-2, priority=P0)" in text


def test_silence_link_prefills_the_common_labels() -> None:
    url = silence_url(notification(alert()))
    assert url.startswith("http://alertmanager:9093/#/silences/new?filter=")
    assert unquote(url.split("filter=")[1]) == \
        '{alertname="DiskFull", instance="db-1", priority="P1", team="ops"}'
    assert silence_url(notification(alert(), external_url="")) == ""


def test_many_alerts_are_summarised_not_listed() -> None:
    many = [alert(instance=f"db-{i}") for i in range(25)]
    lines = NotificationView.of(notification(*many, truncated=5)).alert_lines()
    assert len(lines) == 21 and lines[-1] == "… and 10 more alert(s)"


def test_fit_lines_keeps_whole_lines_and_marks_the_cut() -> None:
    assert fit_lines(["aaa", "bbb", "ccc"], 100) == "aaa\nbbb\nccc"
    assert fit_lines(["aaa", "bbb", "ccc"], 9) == "aaa\nbbb\n…"
    assert fit_lines(["aaa", "bbb", "ccc"], 8) == "aaa\n…"


def test_truncation_helpers() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 3) == "abc"
    cut = truncate_bytes("ééééé", 6)
    assert len(cut.encode()) <= 6 and cut.endswith("…")


def test_go_time() -> None:
    assert go_time(None) == "0001-01-01T00:00:00Z"
    assert go_time(NOW) == "2024-05-01T12:00:00.25Z"
    assert go_time(NOW.replace(microsecond=0)) == "2024-05-01T12:00:00Z"
