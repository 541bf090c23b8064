"""Pieces every sink module shares: the ``http_config`` block, Go time formatting, links, digests.

``http_config`` is Alertmanager's HTTP client block (prometheus/common). Deliveries go through the
sink's HTTP senders (connectors.http), built alike for every target, so only what can ride on a
single request is honoured: ``basic_auth`` and ``authorization`` become an ``Authorization`` header.
``tls_config`` with files, ``proxy_url``, ``proxy_connect_header`` and ``oauth2`` would need a client
of their own; a connector with them is refused when it is built instead of silently sending without
them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from connectors.base import OutboundRequest, Outcome
from pipeline.models import Alert, Notification

if TYPE_CHECKING:
    from connectors.http import HttpSender

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
USER_AGENT = "alert-pipeline/0.1"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def read_secret_file(path: str) -> SecretStr:
    """A ``*_file`` secret: the file's content without the trailing newline (as Alertmanager reads it)."""
    return SecretStr(Path(path).read_text(encoding="utf-8").rstrip("\r\n"))


class BasicAuth(_Block):
    username: str = ""
    password: SecretStr | None = None
    password_file: str = ""


class Authorization(_Block):
    type: str = "Bearer"
    credentials: SecretStr | None = None
    credentials_file: str = ""


class TlsConfig(_Block):
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""
    max_version: str = ""


class HttpConfig(_Block):
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    oauth2: dict[str, Any] | None = None
    tls_config: TlsConfig | None = None
    proxy_url: str = ""
    proxy_connect_header: dict[str, list[str]] | None = None
    follow_redirects: bool = True
    enable_http2: bool = True

    @model_validator(mode="after")
    def _only_what_the_shared_client_can_do(self) -> HttpConfig:
        unsupported = []
        if self.oauth2 is not None:
            unsupported.append("oauth2")
        if self.proxy_url or self.proxy_connect_header:
            unsupported.append("proxy_url")
        if self.tls_config is not None and self.tls_config != TlsConfig():
            unsupported.append("tls_config")
        if unsupported:
            raise ValueError(
                f"http_config {', '.join(unsupported)} is not supported by the sink's shared HTTP client"
            )
        return self

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header this block asks for (files are read now, per request)."""
        if self.basic_auth is not None:
            password = self.basic_auth.password
            if password is None and self.basic_auth.password_file:
                password = read_secret_file(self.basic_auth.password_file)
            raw = f"{self.basic_auth.username}:{password.get_secret_value() if password else ''}"
            return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
        if self.authorization is not None:
            credentials = self.authorization.credentials
            if credentials is None and self.authorization.credentials_file:
                credentials = read_secret_file(self.authorization.credentials_file)
            if credentials is not None:
                return {"Authorization": f"{self.authorization.type} {credentials.get_secret_value()}"}
        return {}


def secret_value(inline: SecretStr | None, file: str = "") -> str:
    """The secret given inline or in a file ("" when neither)."""
    if inline is not None and inline.get_secret_value():
        return inline.get_secret_value()
    if file:
        return read_secret_file(file).get_secret_value()
    return ""


def go_time(value: datetime | None) -> str:
    """A time as Go's ``time.Time`` marshals to JSON: RFC 3339, trailing zero fractions dropped,
    ``Z`` for UTC, and the zero time for "unset"."""
    if value is None:
        return GO_ZERO_TIME
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def digest(*parts: str) -> str:
    """A short stable hash of ``parts`` (for target keys made of secrets: never shown as such)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def external_url(notification: Notification, fallback: str = "") -> str:
    return (notification.external_url or fallback).rstrip("/")


def silence_url(notification: Notification, fallback_external_url: str = "") -> str:
    """Alertmanager's "new silence" page pre-filled with the group's common labels ("" without a URL)."""
    base = external_url(notification, fallback_external_url)
    if not base:
        return ""
    labels = notification.common_labels or notification.group_labels
    matchers = ", ".join(f'{name}="{_escape_matcher(value)}"' for name, value in sorted(labels.items()))
    return f"{base}/#/silences/new?filter={quote('{' + matchers + '}', safe='')}"


def _escape_matcher(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def priority_of(notification: Notification) -> str:
    """The group's priority label (P0 most urgent): the most urgent among its alerts, "" when none."""
    found = sorted(p for a in notification.alerts if (p := a.labels.get("priority", "")) in PRIORITIES)
    return found[0] if found else ""


PRIORITIES = ("P0", "P1", "P2", "P3", "P4")


def firing(notification: Notification) -> list[Alert]:
    return [a for a in notification.alerts if a.status == "firing"]


def resolved(notification: Notification) -> list[Alert]:
    return [a for a in notification.alerts if a.status == "resolved"]


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def truncate_bytes(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary), ending with ``marker``."""
    data = text.encode()
    if len(data) <= limit:
        return text
    room = max(0, limit - len(marker.encode()))
    return data[:room].decode("utf-8", errors="ignore") + marker


async def send(http: HttpSender, kind: str, request: OutboundRequest,
               classify: Callable[[httpx.Response], Outcome]) -> Outcome:
    """One request of a multi-request delivery, with the base's transport rule (retryable)."""
    try:
        response = await http.request(
            request.method, request.url, headers=dict(request.headers),
            json=request.json if request.content is None else None, content=request.content,
        )
    except httpx.TimeoutException as exc:
        return Outcome.retryable(f"{kind}: timeout ({type(exc).__name__})")
    except httpx.TransportError as exc:
        # The exception text can quote the URL, which may hold a token: the type says enough.
        return Outcome.retryable(f"{kind}: transport error ({type(exc).__name__})")
    return classify(response)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it is not one."""
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
