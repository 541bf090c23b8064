"""Slack: incoming webhooks, or the Bot API with one thread per alert group.

``slack_configs`` as Alertmanager has them. The mode follows ``api_url``:

- an incoming-webhook URL (the secret is the URL): one message per notification; Slack answers
  ``ok`` or a plain-text error code with the HTTP status;
- ``https://slack.com/api/chat.postMessage`` with ``http_config.authorization`` holding the bot token
  (``xoxb-…``): the group's first notification posts a root message whose ``channel``/``ts`` is kept in
  the ThreadStore; later ones (repeats, resolved) update the root with ``chat.update`` and post under
  it with ``thread_ts``. Once the group has resolved, the next firing starts a new thread. The Bot API
  answers HTTP 200 with ``{"ok": false, "error": ...}``; only the throttling and server-side errors
  are retried.

The message is Alertmanager's attachment (color, title, title_link, pretext, text, fields, footer,
actions, ...); ``title``/``text``/``pretext``/``fallback``/``footer``/field values are templates
(connectors.sinks.templates). Text is cut to Slack's 3000-character section limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from connectors.base import (
    Connector,
    ConnectorConfig,
    DeliveryContext,
    OutboundRequest,
    Outcome,
    classify_http,
    retry_after_seconds,
)
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, json_body, read_secret_file, send, truncate
from connectors.sinks.templates import TextTemplate, optional_template
from connectors.sinks.view import SLACK, NotificationView, fit_lines
from pipeline.models import Notification

TEXT_LIMIT = 3000
TITLE_LIMIT = 1024
MAX_FIELDS = 10  # Block Kit: fields <= 10
RETRYABLE_API_ERRORS = frozenset({"ratelimited", "rate_limited", "service_unavailable", "internal_error",
                                  "fatal_error", "request_timeout"})
COLORS = {"firing": "danger", "resolved": "good"}


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlackField(_Plain):
    title: str
    value: str
    short: bool | None = None


class SlackConfirm(_Plain):
    text: str
    title: str = ""
    ok_text: str = ""
    dismiss_text: str = ""


class SlackAction(_Plain):
    type: str
    text: str
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: SlackConfirm | None = None


class SlackConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    api_url: SecretStr | None = None
    api_url_file: str = ""
    channel: str = ""
    username: str = ""
    color: str = ""
    title: str = ""
    title_link: str = ""
    pretext: str = ""
    text: str = ""
    fields: list[SlackField] = []
    short_fields: bool = False
    footer: str = ""
    fallback: str = ""
    callback_id: str = ""
    icon_emoji: str = ""
    icon_url: str = ""
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    mrkdwn_in: list[str] = []
    actions: list[SlackAction] = []

    @model_validator(mode="after")
    def _templates_parse(self) -> SlackConfig:
        for name in ("title", "text", "pretext", "fallback", "footer", "color"):
            optional_template(getattr(self, name), name)
        for index, item in enumerate(self.fields):
            TextTemplate.parse(item.value, f"fields[{index}].value")
        return self

    def url(self) -> str:
        if self.api_url is not None:
            return self.api_url.get_secret_value()
        return read_secret_file(self.api_url_file).get_secret_value()


def is_bot_api(url: str) -> bool:
    return httpx.URL(url).path.rstrip("/").endswith("/api/chat.postMessage")


def sibling_method(url: str, method: str) -> str:
    """``https://slack.com/api/chat.postMessage`` → ``https://slack.com/api/<method>``."""
    parsed = httpx.URL(url)
    path = parsed.path.rstrip("/")
    return str(parsed.copy_with(path=path[: path.rindex("/") + 1] + method))


class SlackConnector(Connector):
    kind: ClassVar[str] = "slack"
    rate_per_s = 1.0  # Slack: about 1 message per second per channel
    config_model: ClassVar[type[ConnectorConfig]] = SlackConfig
    config: SlackConfig

    @property
    def target_key(self) -> str:
        # Slack's limit is about one message per second per channel.
        return f"slack:{digest(self.config.url(), self.config.channel)}"

    def _tpl(self, name: str) -> TextTemplate | None:
        return optional_template(getattr(self.config, name), name)

    def attachment(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)
        default_text = fit_lines(view.lines(SLACK), TEXT_LIMIT)

        def field(name: str, default: str) -> str:
            template = self._tpl(name)
            return template.render(data, default) if template else default

        attachment: dict[str, Any] = {
            "color": field("color", COLORS[notification.status]),
            "title": truncate(field("title", view.title), TITLE_LIMIT),
            "title_link": self.config.title_link or view.external_url,
            "text": truncate(field("text", default_text), TEXT_LIMIT),
            "fallback": truncate(field("fallback", view.title), TITLE_LIMIT),
            "mrkdwn_in": self.config.mrkdwn_in or ["fallback", "pretext", "text"],
        }
        for name in ("pretext", "footer"):
            if value := field(name, ""):
                attachment[name] = value
        for name in ("callback_id", "image_url", "thumb_url"):
            if value := getattr(self.config, name):
                attachment[name] = value
        if self.config.fields:
            attachment["fields"] = [
                {"title": f.title, "value": TextTemplate.parse(f.value, "fields").render(data),
                 "short": self.config.short_fields if f.short is None else f.short}
                for f in self.config.fields[:MAX_FIELDS]
            ]
        if self.config.actions:
            attachment["actions"] = [a.model_dump(exclude_defaults=True) for a in self.config.actions]
        return attachment

    def message(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        attachment = self.attachment(notification, fallback_external_url)
        body: dict[str, Any] = {"text": attachment["fallback"], "attachments": [attachment]}
        for name in ("channel", "username", "icon_emoji", "icon_url"):
            if value := getattr(self.config, name):
                body[name] = value
        if self.config.link_names:
            body["link_names"] = True
        return body

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                **self.config.http_config.auth_headers()}

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        """The one request of webhook mode; in Bot API mode the root post, or the threaded reply."""
        body = self.message(notification, ctx.external_url)
        if open_thread(thread) is not None:
            body["channel"] = thread["channel"]
            body["thread_ts"] = thread["ts"]
        return OutboundRequest("POST", self.config.url(), self._headers(), json=body)

    def render_root_update(self, notification: Notification, ctx: DeliveryContext,
                           thread: Mapping[str, Any]) -> OutboundRequest:
        body = self.message(notification, ctx.external_url)
        body = {"channel": thread["channel"], "ts": thread["ts"], "text": body["text"],
                "attachments": body["attachments"]}
        return OutboundRequest("POST", sibling_method(self.config.url(), "chat.update"), self._headers(), json=body)

    @property
    def bot_api(self) -> bool:
        return is_bot_api(self.config.url())

    def classify(self, response: httpx.Response) -> Outcome:
        if self.bot_api:
            return classify_api(response)
        # Incoming webhooks: 200 "ok"; plain-text error codes (404 channel_not_found, 410
        # channel_is_archived, ...) are permanent, 429 and 5xx retryable.
        return classify_http(self.kind, response)

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        if not self.bot_api:
            return await super().deliver(notification, ctx)
        thread = open_thread(await ctx.threads.get(self.thread_key(notification)))
        if thread is not None:
            # Root first: chat.update is idempotent, so a retry after a failed reply repeats only it.
            updated = await send(ctx.http, self.kind, self.render_root_update(notification, ctx, thread),
                                 classify_api)
            if updated.kind != "delivered":
                if updated.reason != "slack: message_not_found":
                    return updated
                thread = None  # the root was deleted: start a new thread
        posted = await send(ctx.http, self.kind, self.render(notification, ctx, thread), classify_api)
        if posted.kind != "delivered":
            return posted
        root = dict(thread) if thread is not None else dict(posted.thread_state or {})
        root["resolved"] = notification.status == "resolved"
        return Outcome.delivered(posted.status_code, root)


def open_thread(thread: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The stored root of a group still open (a resolved group's next firing starts a new thread)."""
    if not thread or not thread.get("ts") or not thread.get("channel") or thread.get("resolved"):
        return None
    return thread


def classify_api(response: httpx.Response) -> Outcome:
    """Slack Web API: HTTP 200 with ``{"ok": false, "error": ...}`` on errors."""
    code = response.status_code
    if code == 429 or code >= 500:
        return Outcome.retryable(f"slack: HTTP {code}", code, retry_after_seconds(response))
    body = json_body(response)
    if code == 200 and body.get("ok") is True:
        return Outcome.delivered(code, {"channel": body.get("channel", ""), "ts": body.get("ts", "")})
    error = str(body.get("error") or f"HTTP {code}")
    if error in RETRYABLE_API_ERRORS:
        return Outcome.retryable(f"slack: {error}", code, retry_after_seconds(response))
    return Outcome.permanent(f"slack: {error}", code)
