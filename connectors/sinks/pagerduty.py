"""PagerDuty Events API v2: trigger while the group fires, resolve when it has resolved.

``pagerduty_configs`` as Alertmanager has them, Events v2 only (``routing_key``): the v1
``service_key`` integration is refused when the connector is built. The ``dedup_key`` is the
SHA-256 of the group key, as Alertmanager computes it, so one group is one PagerDuty alert (and a
migration from Alertmanager keeps open incidents). ``severity`` follows the priority label
(P0 critical, P1/P2 error, P3 warning, P4 info) unless configured; ``description`` (the summary,
≤ 1024 characters), ``client``, ``client_url`` and ``details`` values are templates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, retry_after_seconds
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, go_time, json_body, secret_value, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import PLAIN, NotificationView
from pipeline.models import Notification

SUMMARY_LIMIT = 1024
PAYLOAD_LIMIT = 512 * 1024
SEVERITIES = {"P0": "critical", "P1": "error", "P2": "error", "P3": "warning", "P4": "info"}
EVENTS_V2_URL = "https://events.pagerduty.com/v2/enqueue"


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PagerdutyImage(_Plain):
    src: str = ""
    alt: str = ""
    href: str = ""


class PagerdutyLink(_Plain):
    href: str = ""
    text: str = ""


class PagerdutyConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    routing_key: SecretStr | None = None
    routing_key_file: str = ""
    service_key: SecretStr | None = None
    service_key_file: str = ""
    url: str = EVENTS_V2_URL
    client: str = ""
    client_url: str = ""
    description: str = ""
    details: dict[str, str] = {}
    images: list[PagerdutyImage] = []
    links: list[PagerdutyLink] = []
    source: str = ""
    severity: str = ""
    class_: str = Field("", alias="class")  # a Python keyword
    component: str = ""
    group: str = ""

    @model_validator(mode="after")
    def _v2_only(self) -> PagerdutyConfig:
        if not (self.routing_key or self.routing_key_file):
            raise ValueError("service_key (Events API v1) is not supported: use routing_key (Events API v2)")
        for name in ("description", "client", "client_url", "source", "severity", "component", "group", "class_"):
            optional_template(getattr(self, name), name)
        for key, value in self.details.items():
            optional_template(value, f"details.{key}")
        return self


def dedup_key(notification: Notification) -> str:
    """Alertmanager's key: hex SHA-256 of the group key (64 characters, within PagerDuty's 255)."""
    return hashlib.sha256(notification.group_key.encode()).hexdigest()


class PagerdutyConnector(Connector):
    kind: ClassVar[str] = "pagerduty"
    threaded: ClassVar[bool] = False  # render ignores the thread memory: no lookup per delivery
    config_model: ClassVar[type[ConnectorConfig]] = PagerdutyConfig
    config: PagerdutyConfig

    def routing_key(self) -> str:
        return secret_value(self.config.routing_key, self.config.routing_key_file)

    @property
    def target_key(self) -> str:
        # PagerDuty limits events per routing key.
        return f"pagerduty:{digest(self.routing_key())}"

    def event(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        base = {"routing_key": self.routing_key(), "dedup_key": dedup_key(notification)}
        if notification.status == "resolved":
            return {**base, "event_action": "resolve"}
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)

        def field(name: str, default: str) -> str:
            template = optional_template(getattr(self.config, name), name)
            return template.render(data, default) if template else default

        details = {key: optional_template(value, key).render(data) if value else ""
                   for key, value in self.config.details.items()}
        details = details or {
            "firing": "\n".join(view.alert_lines(PLAIN)), "num_firing": str(view.firing_count),
            "num_resolved": str(view.resolved_count), "priority": view.priority,
            "common_labels": view.common_labels,
        }
        payload: dict[str, Any] = {
            "summary": truncate(field("description", view.title + (f": {view.summary}" if view.summary else "")),
                                SUMMARY_LIMIT),
            "source": field("source", "") or field("client", "alert-pipeline"),
            "severity": field("severity", SEVERITIES.get(view.priority, "error")),
            "timestamp": go_time(notification.created_at),
            "custom_details": details,
        }
        for name, key in (("component", "component"), ("group", "group"), ("class_", "class")):
            if value := field(name, ""):
                payload[key] = value
        links = [{"href": url, "text": title} for title, url in view.links]
        links += [link.model_dump() for link in self.config.links if link.href]
        event = {**base, "event_action": "trigger", "payload": payload,
                 "client": field("client", "alert-pipeline"),
                 "client_url": field("client_url", view.external_url), "links": links}
        if self.config.images:
            event["images"] = [image.model_dump() for image in self.config.images if image.src]
        if len(orjson.dumps(event)) > PAYLOAD_LIMIT:
            # PagerDuty refuses events over 512 KB: keep the event, shorten the details.
            payload["custom_details"] = {"note": "details dropped: event exceeded 512 KB",
                                         "num_firing": str(view.firing_count)}
        return event

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **self.config.http_config.auth_headers()}
        return OutboundRequest("POST", self.config.url, headers, json=self.event(notification, ctx.external_url))

    def classify(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        if 200 <= code < 300:
            return Outcome.delivered(code)
        body = json_body(response)
        detail = " ".join(str(part) for part in (body.get("status"), body.get("message")) if part)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += ": " + "; ".join(str(e) for e in errors)[:300]
        reason = f"pagerduty: HTTP {code}" + (f" {detail}" if detail else "")
        if code == 429 or code >= 500:
            return Outcome.retryable(reason, code, retry_after_seconds(response))
        return Outcome.permanent(reason, code)
