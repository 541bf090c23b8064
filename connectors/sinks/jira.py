"""Jira: one issue per alert group, created while it fires and transitioned when it resolves.

``jira_configs`` as Alertmanager 0.28 has them (``api_url`` e.g. ``https://<site>.atlassian.net/rest/api/2``
or ``…/3``, ``project``, ``issue_type``, ``summary``/``description``/``priority`` templates, ``labels``,
``resolve_transition``, ``reopen_transition``, ``reopen_duration``, ``fields``; credentials in
``http_config.basic_auth`` as email and API token). Jira has no idempotency key, so the issue key is
kept in the ThreadStore; the issue also carries the label ``ALERT{sha256(group key)}`` as
Alertmanager's does, to find it by hand.

- firing, no issue yet (or the last one resolved longer than ``reopen_duration`` ago, or without a
  ``reopen_transition``): create it (201 ``{"key"}``);
- firing, issue open: update summary and description (repeats), nothing new is created;
- firing, issue resolved within ``reopen_duration``: apply ``reopen_transition``, then update;
- resolved, issue open: update, then apply ``resolve_transition`` when configured;
- resolved without a known issue: nothing to do (delivered).

Transitions are applied by name: ``GET …/issue/{key}/transitions`` then ``POST`` the matching id.
API v3 takes descriptions as Atlassian Document Format, v2 as plain text; both are handled.
``wont_fix_resolution`` only matters to Alertmanager's issue search and is accepted and unused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import model_validator

from connectors.base import (
    Connector,
    ConnectorConfig,
    DeliveryContext,
    OutboundRequest,
    Outcome,
    classify_http,
    retry_after_seconds,
)
from connectors.sinks.common import USER_AGENT, HttpConfig, digest, json_body, send, truncate
from connectors.sinks.templates import optional_template
from connectors.sinks.view import PLAIN, NotificationView
from pipeline.amconfig.values import parse_model_duration
from pipeline.models import Notification

SUMMARY_LIMIT = 255
DESCRIPTION_LIMIT = 32000
PRIORITIES = {"P0": "Highest", "P1": "High", "P2": "Medium", "P3": "Low", "P4": "Lowest"}


class JiraConfig(ConnectorConfig):
    http_config: HttpConfig = HttpConfig()
    api_url: str
    project: str
    summary: str = ""
    description: str = ""
    labels: list[str] = []
    priority: str = ""
    issue_type: str
    reopen_transition: str = ""
    resolve_transition: str = ""
    wont_fix_resolution: str = ""
    reopen_duration: str = ""
    fields: dict[str, Any] = {}

    @model_validator(mode="after")
    def _templates_parse(self) -> JiraConfig:
        for name in ("summary", "description", "priority"):
            optional_template(getattr(self, name), name)
        if self.reopen_duration:
            parse_model_duration(self.reopen_duration)
        return self


def group_label(notification: Notification) -> str:
    return "ALERT{" + hashlib.sha256(notification.group_key.encode()).hexdigest() + "}"


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document, one paragraph per line."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} if line else {"type": "paragraph"}
        for line in text.split("\n")
    ]}


class JiraConnector(Connector):
    kind: ClassVar[str] = "jira"
    config_model: ClassVar[type[ConnectorConfig]] = JiraConfig
    config: JiraConfig

    @property
    def target_key(self) -> str:
        return f"jira:{digest(self.config.api_url, str(self.config.http_config.auth_headers()))}"

    def _url(self, path: str) -> str:
        return self.config.api_url.rstrip("/") + "/" + path

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT,
                **self.config.http_config.auth_headers()}

    @property
    def uses_adf(self) -> bool:
        return self.config.api_url.rstrip("/").endswith("/3")

    def issue_fields(self, notification: Notification, fallback_external_url: str = "") -> dict[str, Any]:
        """The fields every create and update sets (project and issue type only on create)."""
        view = NotificationView.of(notification, fallback_external_url)
        data = view.template_data(notification)

        def field(name: str, default: str) -> str:
            template = optional_template(getattr(self.config, name), name)
            return template.render(data, default) if template else default

        description = truncate(field("description", "\n".join(view.lines(PLAIN))), DESCRIPTION_LIMIT)
        fields: dict[str, Any] = {
            "summary": truncate(field("summary", view.title).replace("\n", " "), SUMMARY_LIMIT),
            "description": adf(description) if self.uses_adf else description,
            "labels": sorted({group_label(notification), *self.config.labels}),
        }
        if priority := field("priority", PRIORITIES.get(view.priority, "")):
            fields["priority"] = {"name": priority}
        return fields

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        """Create the issue, or (with one open) update it."""
        fields = self.issue_fields(notification, ctx.external_url)
        if thread and thread.get("key"):
            return OutboundRequest("PUT", self._url(f"issue/{thread['key']}"), self._headers(),
                                   json={"fields": fields})
        fields = {"project": {"key": self.config.project}, "issuetype": {"name": self.config.issue_type},
                  **self.config.fields, **fields}
        return OutboundRequest("POST", self._url("issue"), self._headers(), json={"fields": fields})

    def classify(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        if 200 <= code < 300:
            key = json_body(response).get("key")
            return Outcome.delivered(code, {"key": key} if key else None)
        body = json_body(response)
        messages = [*body.get("errorMessages", []), *(f"{k}: {v}" for k, v in (body.get("errors") or {}).items())]
        if messages:
            reason = f"jira: HTTP {code} " + "; ".join(str(m) for m in messages)[:300]
            if code == 429 or code >= 500:
                return Outcome.retryable(reason, code, retry_after_seconds(response))
            return Outcome.permanent(reason, code)
        return classify_http(self.kind, response)

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        stored = dict(await ctx.threads.get(self.thread_key(notification)) or {})
        if notification.status == "firing":
            if stored.get("resolved_at"):
                if not self._may_reopen(stored, ctx.now):
                    stored = {}  # a new incident: a new issue
                else:
                    reopened = await self._transition(ctx, stored["key"], self.config.reopen_transition)
                    if reopened.kind != "delivered":
                        return reopened
                    stored.pop("resolved_at")
        elif not stored.get("key") or stored.get("resolved_at"):
            return Outcome.delivered(None)  # nothing open to resolve
        outcome = await send(ctx.http, self.kind, self.render(notification, ctx, stored), self.classify)
        if outcome.kind != "delivered":
            return outcome
        state = {**stored, **(outcome.thread_state or {})}
        if notification.status == "resolved":
            if self.config.resolve_transition:
                resolved = await self._transition(ctx, state["key"], self.config.resolve_transition)
                if resolved.kind != "delivered":
                    return resolved
            state["resolved_at"] = ctx.now.isoformat()
        return Outcome.delivered(outcome.status_code, state)

    def _may_reopen(self, stored: Mapping[str, Any], now: datetime) -> bool:
        if not self.config.reopen_transition or not stored.get("key"):
            return False
        if not self.config.reopen_duration:
            return True
        limit = parse_model_duration(self.config.reopen_duration)
        # "0" sets no age limit, like leaving the key out
        return limit == timedelta(0) or now - datetime.fromisoformat(stored["resolved_at"]) <= limit

    async def _transition(self, ctx: DeliveryContext, key: str, name: str) -> Outcome:
        url = self._url(f"issue/{key}/transitions")
        try:
            response = await ctx.http.request("GET", url, headers=self._headers())
        except httpx.TransportError as exc:
            return Outcome.retryable(f"jira: transport error ({type(exc).__name__})")
        listed = self.classify(response)
        if listed.kind != "delivered":
            return listed
        transitions = json_body(response).get("transitions") or []
        match = next((t for t in transitions if str(t.get("name", "")).lower() == name.lower()), None)
        if match is None:
            available = ", ".join(str(t.get("name")) for t in transitions)
            return Outcome.permanent(f'jira: issue {key} has no transition "{name}" (available: {available})')
        request = OutboundRequest("POST", url, self._headers(), json={"transition": {"id": str(match["id"])}})
        return await send(ctx.http, self.kind, request, self.classify)
