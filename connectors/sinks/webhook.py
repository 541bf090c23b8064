"""Generic webhook: Alertmanager's webhook v4 payload, byte-compatible with what Alertmanager posts.

``webhook_configs`` keys as Alertmanager 0.25 has them (``url``, ``max_alerts``, ``http_config``,
``send_resolved``) plus our extension: ``signing_secret`` / ``signing_secret_file``. With a secret,
every request carries Standard Webhooks headers (``webhook-id``: the notification id, stable across
retries; ``webhook-timestamp``: unix seconds; ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``), so receivers can check origin, reject replays and deduplicate.
docs/connectors.md has the verification recipe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import Field, SecretStr

from connectors.base import (
    Connector,
    ConnectorConfig,
    DeliveryContext,
    OutboundRequest,
    Outcome,
    classify_http,
)
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, go_time, secret_value
from pipeline.grouping.notification import common_pairs, webhook_receiver_name
from pipeline.models import Alert, Notification

STANDARD_WEBHOOKS_KEY_PREFIX = "whsec_"


class WebhookConfig(ConnectorConfig):
    url: SecretStr  # Alertmanager's SecretURL: the URL often carries a token
    max_alerts: int = Field(default=0, ge=0)
    http_config: HttpConfig = HttpConfig()
    signing_secret: SecretStr | None = None
    signing_secret_file: str = ""


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": dict(sorted(alert.labels.items())),
        "annotations": dict(sorted(alert.annotations.items())),
        "startsAt": go_time(alert.starts_at),
        "endsAt": go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_payload(notification: Notification, max_alerts: int = 0, external_url: str = "") -> dict[str, Any]:
    """The v4 message. ``max_alerts`` cuts the batch again if the grouping stage did not already."""
    alerts = list(notification.alerts)
    truncated = notification.truncated_alerts
    status = notification.status
    common_labels, common_annotations = notification.common_labels, notification.common_annotations
    if max_alerts and len(alerts) > max_alerts:
        truncated += len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
        # template.Data is computed over the batch that is sent
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
        common_labels = common_pairs([a.labels for a in alerts])
        common_annotations = common_pairs([a.annotations for a in alerts])
    return {
        "receiver": webhook_receiver_name(notification.receiver),
        "status": status,
        "alerts": [alert_payload(a) for a in alerts],
        "groupLabels": dict(sorted(notification.group_labels.items())),
        "commonLabels": dict(sorted(common_labels.items())),
        "commonAnnotations": dict(sorted(common_annotations.items())),
        "externalURL": notification.external_url or external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
    }


# Go's encoding/json escapes these inside strings (and they only occur inside strings).
_GO_JSON_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"),
                    ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))


def go_json(value: Any) -> bytes:
    """``value`` encoded as Go's ``json.Encoder.Encode`` writes it: maps sorted by key (the caller
    sorts them), HTML characters escaped, a trailing newline."""
    body = orjson.dumps(value)
    for raw, escaped in _GO_JSON_ESCAPES:
        body = body.replace(raw, escaped)
    return body + b"\n"


def signing_key(secret: str) -> bytes:
    """Standard Webhooks secrets (``whsec_<base64>``) are base64 keys; any other secret is its UTF-8."""
    if secret.startswith(STANDARD_WEBHOOKS_KEY_PREFIX):
        return base64.b64decode(secret[len(STANDARD_WEBHOOKS_KEY_PREFIX):])
    return secret.encode()


def signature_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


class WebhookConnector(Connector):
    kind: ClassVar[str] = "webhook"
    config_model: ClassVar[type[ConnectorConfig]] = WebhookConfig
    threaded: ClassVar[bool] = False  # the v4 payload is the same whatever came before
    config: WebhookConfig

    @property
    def target_key(self) -> str:
        return f"webhook:{digest(self.config.url.get_secret_value())}"

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        payload = webhook_payload(notification, self.config.max_alerts, ctx.external_url)
        body = go_json(payload)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **self.config.http_config.auth_headers()}
        secret = secret_value(self.config.signing_secret, self.config.signing_secret_file)
        if secret:
            headers.update(signature_headers(secret, notification.id, int(ctx.now.timestamp()), body))
        return OutboundRequest("POST", self.config.url.get_secret_value(), headers, content=body)

    def classify(self, response: httpx.Response) -> Outcome:
        # Alertmanager: "5xx response codes are assumed to be recoverable"; 429 too, by our rule.
        return classify_http(self.kind, response)
