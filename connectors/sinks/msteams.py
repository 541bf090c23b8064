"""Microsoft Teams through a Workflows (Power Automate) webhook: one Adaptive Card per notification.

``msteamsv2_configs`` as Alertmanager 0.28 has them: ``webhook_url`` (or ``webhook_url_file``; the
``sig=`` query is the secret), ``title`` and ``text`` templates. Teams refuses bodies over 28 KB with
413, so the card text is cut line by line to fit; a 413 that still happens is permanent. Legacy
Office 365 connectors answer 200 with "HTTP error 429" in the body when throttled: retryable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, classify_http
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, secret_value, truncate_bytes
from connectors.sinks.templates import optional_template
from connectors.sinks.view import MARKDOWN, NotificationView, fit_lines
from pipeline.models import Notification

BODY_LIMIT = 28 * 1024
CARD_OVERHEAD = 1024  # room for the card's fixed JSON around title and text
STYLES = {"firing": "attention", "resolved": "good"}


class MSTeamsV2Config(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    webhook_url: SecretStr | None = None
    webhook_url_file: str = ""
    title: str = ""
    text: str = ""

    @model_validator(mode="after")
    def _templates_parse(self) -> MSTeamsV2Config:
        optional_template(self.title, "title")
        optional_template(self.text, "text")
        return self


def adaptive_card(title: str, text: str, status: str, actions: list[tuple[str, str]]) -> dict[str, Any]:
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True,
             "style": "heading", "color": STYLES.get(status, "default")},
            {"type": "TextBlock", "text": text, "wrap": True},
        ],
    }
    if actions:
        content["actions"] = [{"type": "Action.OpenUrl", "title": t, "url": u} for t, u in actions]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}]}


class MSTeamsV2Connector(Connector):
    kind: ClassVar[str] = "msteamsv2"
    threaded: ClassVar[bool] = False  # render ignores the thread memory: no lookup per delivery
    config_model: ClassVar[type[ConnectorConfig]] = MSTeamsV2Config
    config: MSTeamsV2Config

    def _url(self) -> str:
        return secret_value(self.config.webhook_url, self.config.webhook_url_file)

    @property
    def target_key(self) -> str:
        return f"msteamsv2:{digest(self._url())}"

    def card(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)
        room = BODY_LIMIT - CARD_OVERHEAD - sum(len(t) + len(u) + 60 for t, u in view.links)
        title_t, text_t = optional_template(self.config.title, "title"), optional_template(self.config.text, "text")
        title = truncate_bytes(title_t.render(data, view.title) if title_t else view.title, 1024)
        # the links become buttons: the text need not repeat them
        lines = [line for line in view.lines(MARKDOWN) if line != _links_line(view)]
        default_text = fit_lines(lines, room, _json_size, "\n\n")
        text = text_t.render(data, default_text) if text_t else default_text
        # JSON escaping can grow text; measure what goes on the wire
        while _json_size(text) > room:
            text = truncate_bytes(text, max(0, len(text.encode()) - (_json_size(text) - room) - 8))
        return adaptive_card(title, text, notification.status, list(view.links))

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **self.config.http_config.auth_headers()}
        return OutboundRequest("POST", self._url(), headers, json=self.card(notification, ctx.external_url))

    def classify(self, response: httpx.Response) -> Outcome:
        if response.status_code == 200 and "HTTP error 429" in response.text[:200]:
            return Outcome.retryable("msteamsv2: throttled (HTTP error 429 in a 200 answer)", 429)
        # 413 (body over 28 KB) is a 4xx: permanent, as every other 4xx.
        return classify_http(self.kind, response)


def _links_line(view: NotificationView) -> str:
    return " | ".join(MARKDOWN.link(MARKDOWN.escape(t), u) for t, u in view.links)


def _json_size(text: str) -> int:
    return len(orjson.dumps(text))
