"""Telegram Bot API ``sendMessage``.

``telegram_configs`` as Alertmanager 0.25 has them (``bot_token``, ``chat_id``, ``message``,
``parse_mode`` default HTML, ``disable_notifications``, ``api_url``) plus ``bot_token_file`` as in
later releases. The default message is HTML with every value escaped; a ``message`` template gets
its values escaped in HTML mode. Telegram allows 4096 characters: longer messages are cut, open
HTML tags closed again. A 429 carries ``parameters.retry_after`` (seconds), honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, retry_after_seconds
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, json_body, secret_value, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import HTML, PLAIN, NotificationView, fit_lines
from pipeline.models import Notification

MESSAGE_LIMIT = 4096
# Linear time on any text: a tag holds no "<" (with "[^>]*", "<a<a<a…" without ">" rescanned the rest of
# the text from every "<": quadratic).
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^<>]*>")
_ENTITY_CHARS = frozenset("#abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _without_partial_end(head: str) -> str:
    """``head`` without a tag or an entity cut by the truncation: from the first "<" after the last
    ">", or a trailing "&…" entity start."""
    start = head.find("<", head.rfind(">") + 1)
    if start >= 0:
        return head[:start]
    amp = head.rfind("&")
    if amp >= 0 and all(ch in _ENTITY_CHARS for ch in head[amp + 1:]):
        return head[:amp]
    return head


class TelegramConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    api_url: str = "https://api.telegram.org"
    bot_token: SecretStr | None = None
    bot_token_file: str = ""
    chat_id: int
    message: str = ""
    disable_notifications: bool = False
    parse_mode: str = "HTML"

    @model_validator(mode="after")
    def _check(self) -> TelegramConfig:
        if not (self.bot_token or self.bot_token_file):
            raise ValueError("missing bot_token on telegram_config")
        optional_template(self.message, "message")
        return self


def truncate_html(text: str, limit: int, marker: str = "…") -> str:
    """``text`` within ``limit`` characters without a cut tag or entity, closing the tags left open."""
    if len(text) <= limit:
        return text
    cut = limit - len(marker)
    while True:
        head = _without_partial_end(text[:cut])
        open_tags: list[str] = []
        for found in _TAG.finditer(head):
            if found.group(1):
                if open_tags and open_tags[-1] == found.group(2).lower():
                    open_tags.pop()
            else:
                open_tags.append(found.group(2).lower())
        closing = "".join(f"</{tag}>" for tag in reversed(open_tags))
        result = head + marker + closing
        if len(result) <= limit or cut <= 0:
            return result
        # Cutting n characters of markup also drops the closing tags it opened: halve the excess each
        # round (a few rounds) rather than cut all of it, and never below nothing (a negative cut would
        # slice from the end).
        cut = max(0, cut - max(1, (len(result) - limit) // 2))


class TelegramConnector(Connector):
    kind: ClassVar[str] = "telegram"
    threaded: ClassVar[bool] = False  # render ignores the thread memory: no lookup per delivery
    rate_per_s = 1.0  # Telegram: about 1 message per second per chat
    config_model: ClassVar[type[ConnectorConfig]] = TelegramConfig
    config: TelegramConfig

    def _token(self) -> str:
        return secret_value(self.config.bot_token, self.config.bot_token_file)

    @property
    def target_key(self) -> str:
        # Telegram's limit is about one message per second per chat.
        return f"telegram:{digest(self._token(), str(self.config.chat_id))}"

    def text(self, notification: Notification, fallback_external_url: str = "") -> str:
        view = NotificationView.of(notification, fallback_external_url)
        is_html = self.config.parse_mode == "HTML"
        markup = HTML if is_html else PLAIN
        title = markup.bold(markup.escape(view.title))
        default = fit_lines([title, *view.lines(markup)], MESSAGE_LIMIT)
        template = optional_template(self.config.message, "message")
        text = template.render(view.template_data(notification), default, markup.escape) if template else default
        return truncate_html(text, MESSAGE_LIMIT) if is_html else truncate(text, MESSAGE_LIMIT)

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        body: dict[str, Any] = {"chat_id": self.config.chat_id, "text": self.text(notification, ctx.external_url),
                                "disable_notification": self.config.disable_notifications}
        if self.config.parse_mode:
            body["parse_mode"] = self.config.parse_mode
        url = f"{self.config.api_url.rstrip('/')}/bot{self._token()}/sendMessage"
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        return OutboundRequest("POST", url, headers, json=body)

    def classify(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        body = json_body(response)
        if 200 <= code < 300 and body.get("ok", True):
            return Outcome.delivered(code)
        description = str(body.get("description") or f"HTTP {code}")
        reason = f"telegram: {description}"
        if code == 429 or code >= 500:
            parameters = body.get("parameters")
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            seconds = float(retry_after) if isinstance(retry_after, (int, float)) else retry_after_seconds(response)
            return Outcome.retryable(reason, code, seconds)
        return Outcome.permanent(reason, code)
