"""Opsgenie Alert API v2: create with the group's alias while it fires, close by alias once resolved.

``opsgenie_configs`` as Alertmanager has them. The alias is the SHA-256 of the group key (as
Alertmanager's), so repeats de-duplicate into one Opsgenie alert. ``priority`` follows the priority
label (P0→P1 … P4→P5) unless configured. ``message`` (≤ 130), ``description``, ``note``, ``source``,
``entity``, ``tags`` (comma-separated) and ``details`` values are templates. ``update_alerts``:
after a create, the existing alert's message and description are updated too (two more requests,
as Alertmanager does). The API is asynchronous: 202 means "accepted for processing".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, classify_http
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, secret_value, send, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import PLAIN, NotificationView, fit_lines
from pipeline.models import Notification

MESSAGE_LIMIT = 130
DESCRIPTION_LIMIT = 15000
PRIORITIES = {"P0": "P1", "P1": "P2", "P2": "P3", "P3": "P4", "P4": "P5"}
TEMPLATED = ("message", "description", "source", "entity", "tags", "note", "priority", "actions")


class OpsgenieResponder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = ""
    name: str = ""
    username: str = ""
    type: str = ""


class OpsgenieConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    api_key: SecretStr | None = None
    api_key_file: str = ""
    api_url: str = "https://api.opsgenie.com/"
    message: str = ""
    description: str = ""
    source: str = ""
    details: dict[str, str] = {}
    entity: str = ""
    responders: list[OpsgenieResponder] = []
    actions: str = ""
    tags: str = ""
    note: str = ""
    priority: str = ""
    update_alerts: bool = False

    @model_validator(mode="after")
    def _templates_parse(self) -> OpsgenieConfig:
        for name in TEMPLATED:
            optional_template(getattr(self, name), name)
        for key, value in self.details.items():
            optional_template(value, f"details.{key}")
        return self


def alias(notification: Notification) -> str:
    return hashlib.sha256(notification.group_key.encode()).hexdigest()


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class OpsgenieConnector(Connector):
    kind: ClassVar[str] = "opsgenie"
    threaded: ClassVar[bool] = False  # render ignores the thread memory: no lookup per delivery
    config_model: ClassVar[type[ConnectorConfig]] = OpsgenieConfig
    config: OpsgenieConfig

    def _api_key(self) -> str:
        return secret_value(self.config.api_key, self.config.api_key_file)

    @property
    def target_key(self) -> str:
        return f"opsgenie:{digest(self.config.api_url, self._api_key())}"

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                "Authorization": f"GenieKey {self._api_key()}"}

    def _url(self, path: str) -> str:
        return self.config.api_url.rstrip("/") + "/" + path

    def _fields(self, notification: Notification, fallback_external_url: str) -> dict[str, str]:
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)
        defaults = {
            "message": view.title + (f": {view.summary}" if view.summary else ""),
            "description": fit_lines(view.lines(PLAIN), DESCRIPTION_LIMIT),
            "source": "alert-pipeline", "entity": "", "tags": "", "note": "", "actions": "",
            "priority": PRIORITIES.get(view.priority, ""),
        }
        out = {}
        for name in TEMPLATED:
            template = optional_template(getattr(self.config, name), name)
            out[name] = template.render(data, defaults[name]) if template else defaults[name]
        out["details"] = {k: optional_template(v, k).render(data) if v else "" for k, v in self.config.details.items()}
        return out

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        key = alias(notification)
        fields = self._fields(notification, ctx.external_url)
        if notification.status == "resolved":
            url = self._url(f"v2/alerts/{quote(key, safe='')}/close?identifierType=alias")
            return OutboundRequest("POST", url, self._headers(), json={"source": fields["source"]})
        body: dict[str, Any] = {
            "alias": key,
            "message": truncate(fields["message"], MESSAGE_LIMIT),
            "description": truncate(fields["description"], DESCRIPTION_LIMIT),
            "details": fields["details"] or {k: v for k, v in notification.common_labels.items()},
            "source": fields["source"],
        }
        for name in ("entity", "note", "priority"):
            if fields[name]:
                body[name] = fields[name]
        if tags := _csv(fields["tags"]):
            body["tags"] = tags
        if actions := _csv(fields["actions"]):
            body["actions"] = actions
        if self.config.responders:
            body["responders"] = [r.model_dump(exclude_defaults=True) for r in self.config.responders]
        return OutboundRequest("POST", self._url("v2/alerts"), self._headers(), json=body)

    def classify(self, response: httpx.Response) -> Outcome:
        # 202 accepted; 400/401/402/403/404/409/415/422 permanent; 429 and 5xx retryable.
        return classify_http(self.kind, response)

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        outcome = await super().deliver(notification, ctx)
        if outcome.kind != "delivered" or notification.status == "resolved" or not self.config.update_alerts:
            return outcome
        fields = self._fields(notification, ctx.external_url)
        key = quote(alias(notification), safe="")
        for path, body in ((f"v2/alerts/{key}/message?identifierType=alias",
                            {"message": truncate(fields["message"], MESSAGE_LIMIT)}),
                           (f"v2/alerts/{key}/description?identifierType=alias",
                            {"description": truncate(fields["description"], DESCRIPTION_LIMIT)})):
            updated = await send(ctx.http, self.kind, OutboundRequest("PUT", self._url(path), self._headers(), json=body),
                                 self.classify)
            if updated.kind != "delivered":
                return updated
        return outcome
