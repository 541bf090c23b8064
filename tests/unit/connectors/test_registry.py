"""connectors_for: one connector per integration, in config order; refusals name where, never a secret."""

from __future__ import annotations

import pytest

from connectors.registry import CONNECTOR_TYPES, ConnectorConfigError
from pipeline.amconfig.schema import INTEGRATION_KINDS
from tests.unit.connectors.factories import build, notification


def test_every_connector_kind_is_an_integration_list() -> None:
    assert set(CONNECTOR_TYPES) <= set(INTEGRATION_KINDS.values())
    assert {"webhook", "slack", "pagerduty", "opsgenie", "msteamsv2", "email", "telegram", "jira", "servicenow",
            "datadog", "discord", "kafka"} == set(CONNECTOR_TYPES)


def test_one_connector_per_integration_with_its_index() -> None:
    connectors = build("  webhook_configs: [{url: 'http://a/'}, {url: 'http://b/'}]\n"
                       "  slack_configs: [{api_url: 'https://hooks.slack.com/services/T/B/X'}]")
    assert [c.integration for c in connectors] == ["webhook/0", "webhook/1", "slack/0"]
    assert all(c.receiver == "r" for c in connectors)
    assert connectors[0].target_key != connectors[1].target_key
    assert connectors[0].thread_key(notification()) != connectors[1].thread_key(notification())


def test_unsupported_kind_is_refused_with_its_place() -> None:
    with pytest.raises(ConnectorConfigError, match=r'receiver "r" pushover_configs\[0\] \(line 4\): no connector'):
        build("  pushover_configs: [{user_key: u, token: t}]")


def test_bad_template_is_refused_naming_the_field() -> None:
    with pytest.raises(ConnectorConfigError, match=r"slack_configs\[0\].*text: unsupported template action"):
        build("  slack_configs: [{api_url: 'https://hooks.slack.com/x', text: '{{ range .Alerts }}{{ end }}'}]")


def test_refusals_never_quote_secrets() -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        build("  pagerduty_configs: [{service_key: V1SECRETKEY}]")
    assert "service_key (Events API v1) is not supported" in str(caught.value)
    assert "V1SECRETKEY" not in str(caught.value)
    with pytest.raises(ConnectorConfigError) as caught:
        build("  webhook_configs: [{url: 'http://a/?t=URLSECRET', http_config: {proxy_url: 'http://proxy:3128'}}]")
    assert "proxy_url is not supported" in str(caught.value) and "URLSECRET" not in str(caught.value)
