"""Discord webhook: one embed per notification (``?wait=true`` so errors come back synchronously).

``discord_configs`` as Alertmanager 0.25 has them: ``webhook_url`` (the token is in the URL),
``title`` and ``message`` templates. Discord's limits: content ≤ 2000 characters, embed title ≤ 256,
embed description ≤ 4096, all embed text together ≤ 6000. A 429 answers ``{"retry_after": seconds}``
(honoured); 404 means the webhook was deleted (permanent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, retry_after_seconds
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, json_body, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import MARKDOWN, NotificationView, fit_lines
from pipeline.models import Notification

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
COLORS = {"firing": 0x992D22, "resolved": 0x2ECC71}  # Alertmanager's colours


class DiscordConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    webhook_url: SecretStr
    title: str = ""
    message: str = ""

    @model_validator(mode="after")
    def _templates_parse(self) -> DiscordConfig:
        optional_template(self.title, "title")
        optional_template(self.message, "message")
        return self


class DiscordConnector(Connector):
    kind: ClassVar[str] = "discord"
    threaded: ClassVar[bool] = False  # render ignores the thread memory: no lookup per delivery
    rate_per_s = 2.5  # Discord webhooks: 5 requests per 2 seconds
    config_model: ClassVar[type[ConnectorConfig]] = DiscordConfig
    config: DiscordConfig

    @property
    def target_key(self) -> str:
        return f"discord:{digest(self.config.webhook_url.get_secret_value())}"

    def message(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)
        title_t = optional_template(self.config.title, "title")
        message_t = optional_template(self.config.message, "message")
        title = truncate(title_t.render(data, view.title) if title_t else view.title, TITLE_LIMIT)
        default = fit_lines(view.lines(MARKDOWN), DESCRIPTION_LIMIT)
        description = truncate(message_t.render(data, default) if message_t else default, DESCRIPTION_LIMIT)
        embed: dict[str, Any] = {"title": title, "description": description, "color": COLORS[notification.status]}
        if view.external_url:
            embed["url"] = view.external_url
        # content is what notifications and previews show: the title, within its own limit
        return {"content": truncate(title, CONTENT_LIMIT), "embeds": [embed]}

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        url = httpx.URL(self.config.webhook_url.get_secret_value())
        url = url.copy_merge_params({"wait": "true"})
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        return OutboundRequest("POST", str(url), headers, json=self.message(notification, ctx.external_url))

    def classify(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        if 200 <= code < 300:
            return Outcome.delivered(code)
        body = json_body(response)
        reason = f"discord: HTTP {code}" + (f" {body['message']}" if body.get("message") else "")
        if code == 429 or code >= 500:
            retry_after = body.get("retry_after")
            seconds = float(retry_after) if isinstance(retry_after, (int, float)) else retry_after_seconds(response)
            return Outcome.retryable(reason, code, seconds)
        return Outcome.permanent(reason, code)
