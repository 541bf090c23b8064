"""ServiceNow Table API: one incident per alert group (pipeline extension ``servicenow_configs``).

Keys: ``instance_url`` (``https://<instance>.service-now.com``), ``http_config`` with ``basic_auth``
or ``authorization`` (required), ``table`` (default ``incident``), ``short_description`` /
``description`` / ``close_notes`` templates, ``assignment_group``, ``caller_id``, ``category``,
``close_code`` (default "Solved (Permanently)"), ``resolved_state`` (default "6", Resolved) and
``fields`` (extra columns, written as given). ``urgency``/``impact`` follow the priority label
(P0 → 1/1 … P4 → 3/3) unless ``fields`` sets them.

The incident's ``sys_id`` is kept in the ThreadStore: the first firing notification creates the
incident (``correlation_id`` = SHA-256 of the group key, to find it from the ServiceNow side), repeats
add a work note, and the resolved notification sets the resolved state with close code and notes.
Required close fields vary by instance: a 400/403 answer is permanent and its message is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome, classify_http
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, json_body, send, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import PLAIN, NotificationView
from pipeline.models import Notification

SHORT_DESCRIPTION_LIMIT = 160
URGENCY_IMPACT = {"P0": ("1", "1"), "P1": ("1", "2"), "P2": ("2", "2"), "P3": ("3", "2"), "P4": ("3", "3")}


class ServiceNowConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    instance_url: str
    table: str = "incident"
    short_description: str = ""
    description: str = ""
    assignment_group: str = ""
    caller_id: str = ""
    category: str = ""
    close_code: str = "Solved (Permanently)"
    close_notes: str = ""
    resolved_state: str = "6"
    fields: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self) -> ServiceNowConfig:
        if not self.http_config.auth_headers():
            raise ValueError("servicenow_configs needs http_config.basic_auth or authorization")
        for name in ("short_description", "description", "close_notes"):
            optional_template(getattr(self, name), name)
        return self


class ServiceNowConnector(Connector):
    kind: ClassVar[str] = "servicenow"
    config_model: ClassVar[type[ConnectorConfig]] = ServiceNowConfig
    config: ServiceNowConfig

    @property
    def target_key(self) -> str:
        return f"servicenow:{digest(self.config.instance_url)}"

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT,
                **self.config.http_config.auth_headers()}

    def _url(self, sys_id: str = "") -> str:
        url = f"{self.config.instance_url.rstrip('/')}/api/now/table/{self.config.table}"
        return f"{url}/{sys_id}" if sys_id else url

    def _text(self, notification: Notification, name: str, default: str, fallback_external_url: str) -> str:
        view = NotificationView.of(notification, fallback_external_url)
        template = optional_template(getattr(self.config, name), name)
        return template.render(view.template_data(notification), default) if template else default

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        view = NotificationView.of(notification, ctx.external_url)
        body_text = "\n".join(view.lines(PLAIN))
        sys_id = str(thread.get("sys_id", "")) if thread and not thread.get("resolved") else ""
        if sys_id and notification.status == "resolved":
            body = {"state": self.config.resolved_state, "close_code": self.config.close_code,
                    "close_notes": self._text(notification, "close_notes", body_text, ctx.external_url)}
            return OutboundRequest("PATCH", self._url(sys_id), self._headers(), json=body)
        if sys_id:
            return OutboundRequest("PATCH", self._url(sys_id), self._headers(), json={"work_notes": body_text})
        urgency, impact = URGENCY_IMPACT.get(view.priority, ("2", "2"))
        body = {
            "short_description": truncate(self._text(notification, "short_description", view.title,
                                                     ctx.external_url), SHORT_DESCRIPTION_LIMIT),
            "description": self._text(notification, "description", body_text, ctx.external_url),
            "correlation_id": hashlib.sha256(notification.group_key.encode()).hexdigest(),
            "urgency": urgency, "impact": impact,
        }
        for name in ("assignment_group", "caller_id", "category"):
            if value := getattr(self.config, name):
                body[name] = value
        body.update(self.config.fields)
        return OutboundRequest("POST", self._url(), self._headers(), json=body)

    def classify(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        if 200 <= code < 300:
            result = json_body(response).get("result") or {}
            sys_id = result.get("sys_id") if isinstance(result, dict) else None
            return Outcome.delivered(code, {"sys_id": sys_id, "number": result.get("number", "")} if sys_id else None)
        error = json_body(response).get("error")
        if isinstance(error, dict) and error.get("message") and 400 <= code < 500 and code not in (408, 429):
            detail = f"{error['message']}" + (f": {error['detail']}" if error.get("detail") else "")
            return Outcome.permanent(f"servicenow: HTTP {code} {detail}"[:300], code)
        return classify_http(self.kind, response)

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        stored = await ctx.threads.get(self.thread_key(notification))
        open_incident = bool(stored and stored.get("sys_id") and not stored.get("resolved"))
        if notification.status == "resolved" and not open_incident:
            return Outcome.delivered(None)  # nothing open to resolve
        outcome = await send(ctx.http, self.kind, self.render(notification, ctx, stored), self.classify)
        if outcome.kind != "delivered":
            return outcome
        state = dict(stored or {}) if open_incident else {}
        state.update(outcome.thread_state or {})
        state["resolved"] = notification.status == "resolved"
        return Outcome.delivered(outcome.status_code, state)
