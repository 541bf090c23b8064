"""Datadog Events API v1 (pipeline extension ``datadog_configs``).

Keys: ``api_key`` / ``api_key_file`` (header ``DD-API-KEY``), ``api_url`` (default
``https://api.datadoghq.com``; EU ``https://api.datadoghq.eu`` etc.), ``title`` and ``text``
templates, ``tags``, ``priority`` (normal|low), ``host``, ``source_type_name``. The group's events share
an ``aggregation_key`` (SHA-256 of the group key, cut to Datadog's 100 characters) so Datadog rolls
them up. ``alert_type``: resolved → success; firing → error for P0–P2, warning for P3, info for P4.
Title ≤ 100 and text ≤ 4000 characters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, classify_http
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, secret_value, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import MARKDOWN, NotificationView, fit_lines
from pipeline.models import Notification

TITLE_LIMIT = 100
TEXT_LIMIT = 4000
ALERT_TYPES = {"P0": "error", "P1": "error", "P2": "error", "P3": "warning", "P4": "info"}
MARKDOWN_PREFIX = "%%% \n"
MARKDOWN_SUFFIX = "\n %%%"


class DatadogConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    api_key: SecretStr | None = None
    api_key_file: str = ""
    api_url: str = "https://api.datadoghq.com"
    title: str = ""
    text: str = ""
    tags: list[str] = []
    priority: str = "normal"
    host: str = ""
    source_type_name: str = ""

    @model_validator(mode="after")
    def _templates_parse(self) -> DatadogConfig:
        optional_template(self.title, "title")
        optional_template(self.text, "text")
        return self


class DatadogConnector(Connector):
    kind: ClassVar[str] = "datadog"
    threaded: ClassVar[bool] = False  # render ignores the thread memory: no lookup per delivery
    config_model: ClassVar[type[ConnectorConfig]] = DatadogConfig
    config: DatadogConfig

    def _api_key(self) -> str:
        return secret_value(self.config.api_key, self.config.api_key_file)

    @property
    def target_key(self) -> str:
        return f"datadog:{digest(self.config.api_url, self._api_key())}"

    def event(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)
        title_t, text_t = optional_template(self.config.title, "title"), optional_template(self.config.text, "text")
        room = TEXT_LIMIT - len(MARKDOWN_PREFIX) - len(MARKDOWN_SUFFIX)
        default_text = MARKDOWN_PREFIX + fit_lines(view.lines(MARKDOWN), room) + MARKDOWN_SUFFIX
        tags = [f"{k}:{v}" for k, v in view.common_labels.items()] + list(self.config.tags)
        event: dict[str, Any] = {
            "title": truncate(title_t.render(data, view.title) if title_t else view.title, TITLE_LIMIT),
            "text": truncate(text_t.render(data, default_text) if text_t else default_text, TEXT_LIMIT),
            "alert_type": "success" if notification.status == "resolved" else ALERT_TYPES.get(view.priority, "error"),
            "aggregation_key": hashlib.sha256(notification.group_key.encode()).hexdigest()[:100],
            "tags": tags,
            "priority": self.config.priority,
            "source_type_name": self.config.source_type_name or "alert-pipeline",
        }
        if self.config.host:
            event["host"] = self.config.host
        return event

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "DD-API-KEY": self._api_key()}
        url = self.config.api_url.rstrip("/") + "/api/v1/events"
        return OutboundRequest("POST", url, headers, json=self.event(notification, ctx.external_url))

    def classify(self, response: httpx.Response) -> Outcome:
        # 202 accepted; 400/403 permanent (bad event, bad key); 429 and 5xx retryable.
        return classify_http(self.kind, response)
