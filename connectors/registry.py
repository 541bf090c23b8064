"""Which connector serves which integration list of a receiver, and building them from the config.

``CONNECTOR_TYPES`` maps the integration kind (the list key without ``_configs``, as
``pipeline.amconfig`` names it) to its connector class. ``connectors_for`` builds one connector per
integration of a receiver, with the index it has in the config, so ``Connector.integration`` equals
``Notification.integration`` ("slack/0"). A kind without a connector, or a configuration the
connector cannot honour, raises ``ConnectorConfigError`` naming the receiver, list, index and line:
the sink refuses to start rather than drop a receiver's notifications.
"""

from __future__ import annotations

from pydantic import ValidationError

from connectors.base import Connector
from connectors.sinks.datadog import DatadogConnector
from connectors.sinks.discord import DiscordConnector
from connectors.sinks.email import EmailConnector
from connectors.sinks.jira import JiraConnector
from connectors.sinks.kafka import KafkaConnector
from connectors.sinks.msteams import MSTeamsV2Connector
from connectors.sinks.opsgenie import OpsgenieConnector
from connectors.sinks.pagerduty import PagerdutyConnector
from connectors.sinks.servicenow import ServiceNowConnector
from connectors.sinks.slack import SlackConnector
from connectors.sinks.telegram import TelegramConnector
from connectors.sinks.webhook import WebhookConnector
from pipeline.amconfig.model import Integration, Receiver

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    cls.kind: cls
    for cls in (
        WebhookConnector,
        SlackConnector,
        PagerdutyConnector,
        OpsgenieConnector,
        MSTeamsV2Connector,
        TelegramConnector,
        DiscordConnector,
        DatadogConnector,
        EmailConnector,
        JiraConnector,
        ServiceNowConnector,
        KafkaConnector,
    )
}


class ConnectorConfigError(ValueError):
    """An integration no connector can serve as configured. The message never holds a secret."""


def _where(receiver: Receiver, integration: Integration) -> str:
    line = f" (line {integration.line})" if integration.line else ""
    return f'receiver "{receiver.name}" {integration.list_key}[{integration.index}]{line}'


def _validation_reasons(exc: ValidationError) -> str:
    # Only locations and messages: pydantic's default text quotes the input, which may be a secret.
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{loc}: {error['msg']}" if loc else error["msg"])
    return "; ".join(parts)


def connector_for(receiver: Receiver, integration: Integration) -> Connector:
    cls = CONNECTOR_TYPES.get(integration.kind)
    if cls is None:
        raise ConnectorConfigError(
            f"{_where(receiver, integration)}: no connector for {integration.list_key} "
            f"(supported: {', '.join(sorted(k + '_configs' for k in CONNECTOR_TYPES))})"
        )
    try:
        return cls.from_mapping(integration.config, receiver.name, integration.index)
    except ValidationError as exc:
        raise ConnectorConfigError(f"{_where(receiver, integration)}: {_validation_reasons(exc)}") from None
    except (ValueError, OSError) as exc:  # template syntax, unreadable *_file
        raise ConnectorConfigError(f"{_where(receiver, integration)}: {exc}") from None


def connectors_for(receiver: Receiver) -> list[Connector]:
    """One connector per integration of ``receiver``, in config order."""
    return [connector_for(receiver, integration) for integration in receiver.integrations]
