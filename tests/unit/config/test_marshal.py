"""The status marshaller's pieces, and the secret-hiding of what no Alertmanager can show us: the
pipeline's own receiver lists, and error messages of secret-bearing fields. (The whole text is checked
against a real Alertmanager 0.25 in tests/integration/api/test_status_secrets.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pipeline.amconfig import ConfigError, parse_config
from pipeline.amconfig.marshal import _go_key_less, go_duration, model_duration, status_yaml
from pipeline.api.handlers import AlertmanagerApi, create_api
from pipeline.api.view import ApiView

SECRET = "S3CRET-value"


@pytest.mark.parametrize("value, text", [
    (timedelta(0), "0s"), (timedelta(minutes=90), "1h30m"), (timedelta(days=1), "1d"), (timedelta(days=14), "2w"),
    (timedelta(days=15), "15d"), (timedelta(days=365), "1y"), (timedelta(milliseconds=1500), "1s500ms"),
])
def test_model_duration(value, text):
    assert model_duration(value) == text


@pytest.mark.parametrize("value, text", [
    (timedelta(0), "0s"), (timedelta(seconds=90), "1m30s"), (timedelta(hours=1), "1h0m0s"),
    (timedelta(milliseconds=1500), "1.5s"), (timedelta(milliseconds=250), "250ms"), (timedelta(seconds=30), "30s"),
])
def test_go_duration(value, text):
    assert go_duration(value) == text


def test_go_map_key_order():
    keys = ["b10", "b9", "a", "B", "_x", "b09"]
    ordered = sorted(keys, key=lambda k: sum(_go_key_less(o, k) for o in keys))
    assert ordered == ["_x", "B", "a", "b9", "b09", "b10"]  # yaml.v2: non-letters first, digit runs by value


PIPELINE_LISTS = f"""
route: {{receiver: r}}
global: {{jira_api_url: https://jira.example.com}}
receivers:
- name: r
  msteamsv2_configs: [{{webhook_url: "https://example.webhook.office.com/{SECRET}"}}]
  jira_configs: [{{project: P, issue_type: Bug, http_config: {{basic_auth: {{username: u, password: {SECRET}}}}}}}]
  servicenow_configs: [{{instance_url: https://sn.example.com, http_config: {{authorization: {{credentials: {SECRET}}}}}}}]
  datadog_configs: [{{api_key: {SECRET}}}]
  kafka_configs: [{{topic: t}}]
  webhook_configs: [{{url: "http://hook.example.com/", signing_secret: {SECRET}}}]
"""


def test_the_pipelines_own_lists_hide_their_secrets():
    shown = status_yaml(parse_config(PIPELINE_LISTS), PIPELINE_LISTS)
    assert SECRET not in shown
    document = yaml.safe_load(shown)
    [receiver] = document["receivers"]
    assert receiver["msteamsv2_configs"][0]["webhook_url"] == "<secret>"
    assert receiver["jira_configs"][0]["http_config"]["basic_auth"] == {"username": "u", "password": "<secret>"}
    assert receiver["servicenow_configs"][0]["http_config"]["authorization"]["credentials"] == "<secret>"
    assert receiver["datadog_configs"][0]["api_key"] == "<secret>"
    assert receiver["webhook_configs"][0]["signing_secret"] == "<secret>"
    assert receiver["kafka_configs"] == [{"send_resolved": True, "topic": "t"}]
    assert list(receiver)[:2] == ["name", "webhook_configs"]  # Alertmanager's lists first, in Go's order


def test_status_serves_the_marshalled_configuration_never_the_file(tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(PIPELINE_LISTS)
    from pipeline.settings import Settings

    api = create_api(Settings(alertmanager_config=path), writer=None)
    api.view.ready.set()
    client = TestClient(Starlette(routes=api.routes()))
    original = client.get("/api/v2/status").json()["config"]["original"]
    assert original == status_yaml(api.view.config, PIPELINE_LISTS, tmp_path) and SECRET not in original
    assert isinstance(api, AlertmanagerApi) and isinstance(api.view, ApiView)


@pytest.mark.parametrize("receiver", [
    f'slack_configs: [{{api_url: "https://hooks.slack.com/{SECRET}\\u0001"}}]',
    f"slack_configs: [{{api_url: 'ftp://{SECRET}@hooks.slack.com/x'}}]",
    f"discord_configs: [{{webhook_url: 'https://discord.com:{SECRET}/x'}}]",
    f"webhook_configs: [{{url: 'http://example.com/%zz{SECRET}'}}]",
    f"webhook_configs: [{{url: http://x, http_config: {{proxy_url: 'http://u:{SECRET}@p/%zz'}}}}]",
    f"pagerduty_configs: [{{routing_key: !!binary {SECRET.encode().hex()}}}]",
])
def test_errors_of_secret_bearing_fields_do_not_quote_the_value(receiver):
    text = f"route: {{receiver: r}}\nreceivers:\n- name: r\n  {receiver}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "am.yml")
    assert "receivers[0]." in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET.encode().hex() not in str(caught.value)
