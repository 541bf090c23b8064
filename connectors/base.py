"""The one base every sink connector is built on.

A connector turns one ``Notification`` (one flush of one aggregation group, for one integration of
one receiver) into the target's request, sends it through ``DeliveryContext.http`` (an ``HttpSender``,
connectors.http: aiohttp in the sink, answers as ``httpx.Response``) and classifies what came back.
It never retries, sleeps or dead-letters by itself: the sink stage (pipeline/stages/sink.py) owns
retry tiers, the DLQ, rate limits, circuit breakers and the delivery ledger, so every target gets the
same delivery semantics.

Pieces, per module in ``connectors/sinks/``:

- a ``ConnectorConfig`` subclass: the integration's keys as Alertmanager writes them (plus ours for
  targets Alertmanager lacks); secrets are ``SecretStr`` and never appear in logs or reasons;
- a ``Connector`` subclass with ``kind`` (the config list without ``_configs``: ``slack`` for
  ``slack_configs``), ``render`` (pure: notification → ``OutboundRequest``), ``classify`` (pure:
  response → ``Outcome``) and, only when one request is not enough (Slack threads, Jira transitions,
  SMTP), an overridden ``deliver``;
- registration in ``connectors.registry``.

Targets that thread or close what an earlier notification opened (Slack root ``ts``, Jira issue key,
ServiceNow sys_id, e-mail Message-ID) keep that in a ``ThreadStore`` the sink gives them, keyed by
the group: ``Outcome.thread_state`` is stored once the outcome is durable.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

from pipeline.models import Notification

if TYPE_CHECKING:  # connectors.http imports aiohttp (~150 ms): only the sink's runtime needs it
    from connectors.http import HttpSender

OutcomeKind = Literal["delivered", "retryable", "permanent"]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to.

    ``reason`` is for people and the DLQ header: target-specific and secret-free
    (e.g. ``slack: channel_not_found``, ``pagerduty: HTTP 400 invalid event``).
    ``retry_after`` (seconds) is the target's own Retry-After / retry_after, when it gave one.
    """

    kind: OutcomeKind
    reason: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    thread_state: Mapping[str, Any] | None = None  # to remember for this group (see ThreadStore)

    @classmethod
    def delivered(cls, status_code: int | None = None, thread_state: Mapping[str, Any] | None = None) -> Outcome:
        return cls("delivered", "", status_code, None, thread_state)

    @classmethod
    def retryable(cls, reason: str, status_code: int | None = None, retry_after: float | None = None) -> Outcome:
        return cls("retryable", reason, status_code, retry_after)

    @classmethod
    def permanent(cls, reason: str, status_code: int | None = None) -> Outcome:
        return cls("permanent", reason, status_code)


@dataclass(frozen=True)
class OutboundRequest:
    """One HTTP request to a target, built by ``Connector.render`` (pure, so tests can assert it).

    Its repr shows only the method and host: URLs (Slack/Teams/Telegram), headers and bodies
    (PagerDuty routing_key) carry secrets, and a repr ends up in logs."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None  # when the body is not JSON (or must be signed byte for byte)

    def __repr__(self) -> str:
        return f"OutboundRequest({self.method} {httpx.URL(self.url).host or '?'})"


class ThreadStore(Protocol):
    """Per-group memory of a connector (Slack root ts, Jira issue key, ...); the sink provides it."""

    async def get(self, key: str) -> Mapping[str, Any] | None: ...

    async def put(self, key: str, value: Mapping[str, Any]) -> None: ...


@dataclass
class DeliveryContext:
    """What a delivery may use besides the notification. One per lane worker of the sink."""

    http: HttpSender  # an ``httpx.AsyncClient`` will do too
    threads: ThreadStore
    now: datetime
    external_url: str = ""


class ConnectorConfig(BaseModel):
    """An integration's configuration. Unknown keys are errors; Alertmanager's defaults apply."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    send_resolved: bool = True


class Connector(ABC):
    kind: ClassVar[str]  # "slack", "webhook", ... (the config list name without "_configs")
    config_model: ClassVar[type[ConnectorConfig]]
    # The target's documented sending rate per target_key (deliveries/s); None: the sink's default.
    # Keeping under it avoids the 429s and bans the target would answer with.
    rate_per_s: ClassVar[float | None] = None
    # Whether ``render`` reads the group's thread memory: False spares the default ``deliver`` the
    # ThreadStore lookup (a Redis round trip per delivery) and ``render`` gets ``thread=None``.
    threaded: ClassVar[bool] = True

    def __init__(self, config: ConnectorConfig, receiver: str, index: int = 0) -> None:
        self.config = config
        self.receiver = receiver
        self.index = index

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], receiver: str, index: int = 0) -> Connector:
        """From the integration's dict in the Alertmanager-format config (pipeline.amconfig)."""
        return cls(cls.config_model.model_validate(dict(raw)), receiver, index)

    @property
    def integration(self) -> str:
        """``kind/index``: matches ``Notification.integration``."""
        return f"{self.kind}/{self.index}"

    @property
    def target_key(self) -> str:
        """What rate limits and the circuit breaker are kept per: the endpoint, never a secret.

        Default: kind plus a hash of the whole config (two integrations with the same endpoint and
        credentials share limits). Override when the target's limit is per something else
        (a Slack channel, a PagerDuty routing key)."""
        digest = hashlib.sha256(self.config.model_dump_json().encode()).hexdigest()[:16]
        return f"{self.kind}:{digest}"

    def thread_key(self, notification: Notification) -> str:
        """Key of this group's ThreadStore entry for this integration."""
        material = f"{notification.receiver}\x00{self.integration}\x00{notification.group_key}".encode()
        return f"{self.kind}:{hashlib.sha256(material).hexdigest()[:32]}"

    @abstractmethod
    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        """The request for ``notification``. Pure."""

    @abstractmethod
    def classify(self, response: httpx.Response) -> Outcome:
        """Success, retryable (with the target's retry-after) or permanent. Pure."""

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        """One attempt: render, send, classify. Transport errors and timeouts are retryable."""
        thread = await ctx.threads.get(self.thread_key(notification)) if self.threaded else None
        request = self.render(notification, ctx, thread)
        try:
            response = await ctx.http.request(
                request.method, request.url, headers=dict(request.headers),
                json=request.json if request.content is None else None, content=request.content,
            )
        except httpx.TimeoutException as exc:
            return Outcome.retryable(f"{self.kind}: timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Outcome.retryable(f"{self.kind}: transport error ({type(exc).__name__}: {exc})")
        return self.classify(response)

    async def aclose(self) -> None:
        """Release what the connector holds beyond the sink's HTTP senders (the Kafka sink's producer).
        The sink calls it once at shutdown; most connectors hold nothing."""


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds form; HTTP dates are rare from these APIs)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify_http(kind: str, response: httpx.Response) -> Outcome:
    """The common HTTP rule: 2xx delivered; 408, 425, 429 and 5xx retryable; other 4xx permanent."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome.delivered(code)
    detail = response.text[:200].strip()
    reason = f"{kind}: HTTP {code}" + (f" {detail}" if detail else "")
    if code in (408, 425, 429) or code >= 500:
        return Outcome.retryable(reason, code, retry_after_seconds(response))
    return Outcome.permanent(reason, code)
