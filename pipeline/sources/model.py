"""Alert sources as configuration: one YAML file per source, validated into a registry.

Every source has a ``kind`` saying how its alerts arrive, and shares the same base: a name, the
``labels`` added to each of its alerts, ``limits`` (sizes, count, a token-bucket rate),
``resolve_timeout`` and ``enabled``.

- ``push`` (the default): a sender posts to the HTTP bridge. ``type`` is what it speaks, ``path``
  where it posts, ``auth`` how it proves who it is (always explicit)::

      name: upstream-am                   # optional, defaults to the file name without .yaml
      type: alertmanager-webhook          # alertmanager-v2 | alertmanager-webhook | grafana | generic
      path: /api/v1/webhooks/alertmanager # optional, defaults per type
      auth: {type: bearer, tokens_env: UPSTREAM_AM_TOKENS}   # or `auth: none`, or type hmac
      limits: {max_body_bytes: 1048576, max_alerts: 1000, rate_limit: {requests_per_second: 5, burst: 20}}

- ``poll``: ``pipeline sources run`` asks an API on a schedule (``type: prometheus | alertmanager |
  json``, settings under ``poll:``);
- ``stream``: ``pipeline sources run`` reads a message stream or a watch (``type: nats`` with
  ``nats:``, ``type: kubernetes`` with ``kubernetes:``).

Poll and stream sources carry their upstream's credentials (``poll.auth``, ``nats.auth``...) and a
``breaker`` (the circuit breaker of their upstream). Secrets come inline or from environment
variables, are resolved when the file is loaded, and are kept as pydantic secrets so that no repr,
log line or error message shows them. Pure data: no HTTP, no Kafka. The pages of docs/sources/
show a complete file of every kind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretBytes,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.durations import parse_duration
from pipeline.ingest.formats.generic_mapping import LabelName, StaticLabelValue

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Non-empty segments of URL path characters; no query, fragment, placeholder or trailing slash,
# so that a path has exactly one spelling and duplicate detection is a string comparison.
SOURCE_PATH = re.compile(r"^(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 9110 token
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SourceKind = Literal["push", "poll", "stream"]
PushType = Literal["alertmanager-v2", "alertmanager-webhook", "grafana", "generic"]
SourceType = Literal["alertmanager-v2", "alertmanager-webhook", "grafana", "generic",
                     "prometheus", "alertmanager", "json", "nats", "kubernetes"]
KIND_TYPES: dict[str, tuple[str, ...]] = {
    "push": ("alertmanager-v2", "alertmanager-webhook", "grafana", "generic"),
    "poll": ("prometheus", "alertmanager", "json"),
    "stream": ("nats", "kubernetes"),
}
# The settings block each non-push type needs (and no other type may have).
TYPE_BLOCKS: dict[str, str] = {"prometheus": "poll", "alertmanager": "poll", "json": "poll",
                               "nats": "nats", "kubernetes": "kubernetes"}
DEFAULT_PATHS: dict[str, str] = {
    "alertmanager-v2": "/api/v2/alerts",  # where Prometheus posts when the bridge is its Alertmanager
    "alertmanager-webhook": "/api/v1/webhooks/alertmanager",
    "grafana": "/api/v1/webhooks/grafana",
    "generic": "/api/v1/webhooks/generic/{name}",
}
AUTH_TYPES = ("none", "bearer", "hmac")
# Every tag of an auth union (inbound and upstream): a validation error's location carries it.
AUTH_TAGS = frozenset({*AUTH_TYPES, "basic", "user", "token", "nkey", "creds", "in_cluster", "kubeconfig"})
MIB = 1024 * 1024


class SourceError(ValueError):
    """A source file or set of sources is invalid; each line names the file and the key."""


# --- building blocks ---------------------------------------------------------------------------


class _Config(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a duration string such as 30s, 5m or 1h")
    return parse_duration(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[timedelta, BeforeValidator(_as_duration), AfterValidator(_positive)]


def _header_name(value: str) -> str:
    if not HEADER_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid HTTP header name")
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    """The environment secrets are read from: injectable through the validation context for tests."""
    context = info.context or {}
    return context.get("environ") if context.get("environ") is not None else os.environ


def _from_env(ref: Any, key: str, environ: Mapping[str, str]) -> str:
    """Resolve ``KEY: NAME`` or ``KEY: {name: NAME, default: VALUE}`` to the variable's value.

    The default exists for demo setups that must run without any environment; a production file
    leaves it out so a forgotten variable stops the bridge instead of opening it with a known value.
    """
    if isinstance(ref, str):
        name, default = ref, None
    elif isinstance(ref, Mapping) and set(ref) <= {"name", "default"} and "name" in ref:
        name, default = ref["name"], ref.get("default")
        if default is not None and not isinstance(default, str):
            raise ValueError(f"{key}.default must be a string")
    else:
        raise ValueError(f"{key} must be an environment variable name or {{name: ..., default: ...}}")
    if not isinstance(name, str) or not ENV_VAR_NAME.match(name):
        raise ValueError(f"{key} must name an environment variable (letters, digits, _)")
    value = environ.get(name, "").strip()
    if value:
        return value
    if default is not None:
        return default
    raise ValueError(f"{key}: environment variable {name} is not set (or is empty)")


# --- auth ----------------------------------------------------------------------------------------


class NoAuth(_Config):
    """``auth: none``: anyone who can reach the path may post. Only for trusted networks."""

    type: Literal["none"]


class BearerAuth(_Config):
    """``Authorization: Bearer <token>``; several tokens so a sender can move to a new one."""

    type: Literal["bearer"]
    # sign() uses the first; the order is token_env, tokens_env, then tokens.
    tokens: tuple[SecretStr, ...]  # never empty: _resolve_tokens insists on one

    @model_validator(mode="before")
    @classmethod
    def _resolve_tokens(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        inline = data.pop("tokens", None)
        if inline is None:
            inline = []
        if isinstance(inline, str) or not isinstance(inline, (list, tuple)):
            raise ValueError("tokens must be a list (one entry per token; several allow rotation)")
        environ = _environ(info)
        tokens: list[Any] = []
        if "token_env" in data:
            tokens.append(_from_env(data.pop("token_env"), "token_env", environ))
        if "tokens_env" in data:
            listed = _from_env(data.pop("tokens_env"), "tokens_env", environ)
            from_list = [token.strip() for token in listed.split(",") if token.strip()]
            if not from_list:
                raise ValueError("tokens_env holds no tokens (expected a comma-separated list)")
            tokens.extend(from_list)
        tokens.extend(inline)
        if not tokens:
            raise ValueError("bearer auth needs at least one token: tokens, token_env or tokens_env")
        data["tokens"] = tokens
        return data

    @field_validator("tokens")
    @classmethod
    def _presentable(cls, tokens: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, token in enumerate(tokens):
            value = token.get_secret_value()
            if not value:
                raise ValueError(f"token {index} is empty")
            if any(char.isspace() for char in value):
                raise ValueError(
                    f"token {index} contains whitespace, which an Authorization header cannot carry"
                )
        return tokens


class HmacAuth(_Config):
    """A signature of the raw body (and optionally a timestamp) in a header, as webhooks sign."""

    type: Literal["hmac"]
    secret: SecretBytes
    header: HeaderName = "X-Signature"
    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = "sha256="  # GitHub style; Grafana sends a bare digest and needs prefix: ""
    timestamp_header: HeaderName | None = None
    tolerance: PositiveDuration = timedelta(minutes=5)
    # What is signed: {body} is the raw request body, {timestamp} the timestamp header as sent.
    # Defaults to "{timestamp}.{body}" when timestamp_header is set, else "{body}".
    signed_payload: str

    @model_validator(mode="before")
    @classmethod
    def _resolve_secret_and_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "secret_env" in data:
            if "secret" in data:
                raise ValueError("give either secret or secret_env, not both")
            data["secret"] = _from_env(data.pop("secret_env"), "secret_env", _environ(info))
        if "secret" not in data:
            raise ValueError("hmac auth needs secret or secret_env")
        if data.get("signed_payload") is None:
            data["signed_payload"] = "{timestamp}.{body}" if data.get("timestamp_header") else "{body}"
        return data

    @field_validator("secret")
    @classmethod
    def _secret_not_empty(cls, secret: SecretBytes) -> SecretBytes:
        if not secret.get_secret_value():
            raise ValueError("secret is empty")
        return secret

    @model_validator(mode="after")
    def _payload_template(self) -> HmacAuth:
        template = self.signed_payload
        leftover = template.replace("{body}", "").replace("{timestamp}", "")
        if "{" in leftover or "}" in leftover:
            raise ValueError("signed_payload may only use the placeholders {timestamp} and {body}")
        if template.count("{body}") != 1:
            raise ValueError("signed_payload must contain {body} exactly once")
        if "{timestamp}" in template and not self.timestamp_header:
            raise ValueError("signed_payload uses {timestamp} but no timestamp_header is set")
        # An unsigned timestamp could be rewritten by whoever replays the request.
        if self.timestamp_header and "{timestamp}" not in template:
            raise ValueError("signed_payload must contain {timestamp} when timestamp_header is set")
        if self.timestamp_header and self.timestamp_header.lower() == self.header.lower():
            raise ValueError("timestamp_header and header must be different headers")
        return self

    def signed_bytes(self, body: bytes, timestamp: str | None) -> bytes:
        """The exact bytes the signature covers, for a body and the timestamp header as sent."""
        before, after = self.signed_payload.split("{body}")
        stamp = timestamp or ""
        return (
            before.replace("{timestamp}", stamp).encode()
            + body
            + after.replace("{timestamp}", stamp).encode()
        )


AuthConfig = Annotated[NoAuth | BearerAuth | HmacAuth, Field(discriminator="type")]


# --- limits --------------------------------------------------------------------------------------


class RateLimit(_Config):
    """A token bucket: ``burst`` requests at once, refilled at ``requests_per_second``."""

    requests_per_second: float = Field(gt=0, strict=True, allow_inf_nan=False)
    burst: int = Field(ge=1, strict=True)


class Limits(_Config):
    max_body_bytes: int = Field(MIB, ge=1, strict=True)
    max_alerts: int = Field(1000, ge=1, strict=True)  # per request
    rate_limit: RateLimit | None = None  # absent: unlimited


# --- upstream access (poll and stream sources are clients) ------------------------------------------


def _resolve_secret(data: dict[str, Any], key: str, info: ValidationInfo, *, required: bool) -> None:
    """``key: VALUE`` inline or ``key_env: NAME`` (or ``{name, default}``) from the environment."""
    env_key = f"{key}_env"
    if env_key in data:
        if key in data:
            raise ValueError(f"give either {key} or {env_key}, not both")
        data[key] = _from_env(data.pop(env_key), env_key, _environ(info))
    if required and key not in data:
        raise ValueError(f"needs {key} or {env_key}")


class _WithSecret(_Config):
    """A credential whose secret field (``secret_field``) is given inline or as ``<field>_env``."""

    secret_field: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _secret(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            _resolve_secret(data, cls.secret_field, info, required=True)
        return data


def _readable_file(value: Any) -> Path:
    path = Path(value) if isinstance(value, (str, Path)) else None
    if path is None:
        raise ValueError("must be a file path")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a readable file")
    return path


ReadableFile = Annotated[Path, BeforeValidator(_readable_file)]


class TlsClient(_Config):
    """How a poll or stream source verifies its upstream (and, optionally, presents a client certificate)."""

    ca_file: ReadableFile | None = None  # None: the system's trust store
    cert_file: ReadableFile | None = None
    key_file: ReadableFile | None = None
    server_name: str | None = None       # the name to verify, when the URL's host is an address
    # Turns off certificate verification: for a lab, never production. Logged at every start.
    insecure_skip_verify: bool = Field(False, strict=True)

    @model_validator(mode="after")
    def _pair(self) -> TlsClient:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate and its key)")
        return self


class UpstreamNoAuth(_Config):
    type: Literal["none"]


class UpstreamBearer(_WithSecret):
    """``Authorization: Bearer <token>`` on every request to the upstream."""

    secret_field: ClassVar[str] = "token"

    type: Literal["bearer"]
    token: SecretStr


class UpstreamBasic(_WithSecret):
    """HTTP basic authentication, as Prometheus's and Alertmanager's web config offer."""

    secret_field: ClassVar[str] = "password"

    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr


def _auth_none_shorthand(value: Any) -> Any:
    return {"type": "none"} if value in (None, "none") else value


UpstreamAuth = Annotated[UpstreamNoAuth | UpstreamBearer | UpstreamBasic, Field(discriminator="type"),
                         BeforeValidator(_auth_none_shorthand)]


def _http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a URL string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        # A URL ends up in logs and metrics; a password in it would too.
        raise ValueError("credentials in the URL are refused: put them in auth (bearer or basic)")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: no query or fragment; use params for query parameters")
    return value.rstrip("/")


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


def _one_to_32(values: tuple[str, ...]) -> tuple[str, ...]:
    # Checked after the items, so a bad URL is one error, not also "too short".
    if not 1 <= len(values) <= 32:
        raise ValueError(f"must list 1 to 32 URLs, not {len(values)}")
    if len(set(values)) != len(values):
        raise ValueError("a URL is listed twice")
    return values


class Breaker(_Config):
    """The circuit breaker of a poll or stream source's upstream (pipeline.circuit_breaker): after
    ``failures`` consecutive failed calls the source stops calling for ``cooldown``, then tries once."""

    failures: int = Field(3, ge=1, strict=True)
    cooldown: PositiveDuration = timedelta(seconds=30)


class PollConfig(_Config):
    """``poll:`` of a poll source: what to ask, how often, with which credentials."""

    # Several servers of one source are polled independently (an HA pair of Prometheus servers gives
    # the same alerts twice: same labels, same fingerprint, merged by dedup).
    urls: Annotated[tuple[HttpUrl, ...], AfterValidator(_one_to_32)]
    interval: PositiveDuration = timedelta(seconds=30)
    timeout: PositiveDuration = timedelta(seconds=10)
    # endsAt = poll time + ends_at_intervals × interval, as Prometheus sends endsAt = now + 4 ×
    # max(evaluation interval, resend delay): an alert gone from the upstream resolves that long after
    # its last poll, and up to ends_at_intervals - 1 failed polls in a row resolve nothing.
    ends_at_intervals: int = Field(4, ge=2, le=100, strict=True)
    auth: UpstreamAuth = Field(default_factory=lambda: UpstreamNoAuth(type="none"))
    tls: TlsClient | None = None
    params: dict[str, str] = {}           # extra query parameters (Alertmanager: silenced, inhibited, ...)
    filter: tuple[str, ...] = ()          # type alertmanager: matchers sent as filter=..., e.g. 'team="db"'

    @model_validator(mode="after")
    def _timeout_fits(self) -> PollConfig:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be shorter than interval (a poll must end before the next one)")
        for matcher in self.filter:
            from pipeline.matchers import parse_matcher

            try:
                parse_matcher(matcher)
            except ValueError as exc:
                raise ValueError(f"filter {matcher!r}: {exc}") from None
        return self


# --- NATS JetStream ---------------------------------------------------------------------------------

NATS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _is_subject(subject: str) -> bool:
    """A NATS subject: non-empty dot-separated tokens without whitespace; ``*`` and ``>`` only as whole
    tokens, ``>`` only last."""
    tokens = subject.split(".")
    for index, token in enumerate(tokens):
        if not token or any(char.isspace() for char in token):
            return False
        if token == ">" and index != len(tokens) - 1:
            return False
        if token not in ("*", ">") and ("*" in token or ">" in token):
            return False
    return True


def _nats_server(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a server URL such as nats://host:4222")
    parts = urlsplit(value)
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise ValueError(f"{value!r} must be a nats:// or tls:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("credentials in the server URL are refused: put them in nats.auth")
    return value


class NatsUser(_WithSecret):
    secret_field: ClassVar[str] = "password"
    type: Literal["user"]
    user: str = Field(min_length=1)
    password: SecretStr


class NatsToken(_WithSecret):
    secret_field: ClassVar[str] = "token"
    type: Literal["token"]
    token: SecretStr


class NatsNkey(_Config):
    """An NKey seed file (``SU...``): the server knows the public key."""

    type: Literal["nkey"]
    seed_file: ReadableFile


class NatsCreds(_Config):
    """A decentralized-auth credentials file (user JWT and seed), as ``nsc`` writes it."""

    type: Literal["creds"]
    creds_file: ReadableFile


NatsAuth = Annotated[UpstreamNoAuth | NatsUser | NatsToken | NatsNkey | NatsCreds, Field(discriminator="type"),
                     BeforeValidator(_auth_none_shorthand)]


class NatsConfig(_Config):
    """``nats:`` of a NATS JetStream source: a durable pull consumer on a stream."""

    servers: tuple[Annotated[str, BeforeValidator(_nats_server)], ...] = Field(
        ("nats://127.0.0.1:4222",), min_length=1, max_length=32)
    stream: str                     # the JetStream stream (created by whoever owns it, not by us)
    subject: str                    # the consumer's filter subject, wildcards allowed
    durable: str | None = None      # the durable consumer's name; default pipeline-<source name>
    format: PushType = "alertmanager-v2"  # what a message body holds: what a push source of that type receives
    deliver_policy: Literal["all", "new"] = "all"  # where a new durable consumer starts
    # Unacknowledged messages come back after ack_wait: after a crash, that long until they are redelivered.
    ack_wait: PositiveDuration = timedelta(seconds=30)
    max_ack_pending: int = Field(2048, ge=1, le=1_000_000, strict=True)
    batch: int = Field(256, ge=1, le=10_000, strict=True)  # messages fetched, written and acked together
    auth: NatsAuth = Field(default_factory=lambda: UpstreamNoAuth(type="none"))
    tls: TlsClient | None = None
    connect_timeout: PositiveDuration = timedelta(seconds=5)

    @field_validator("stream", "durable")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not NATS_NAME.match(value):
            raise ValueError(f"{value!r} must be 1-64 letters, digits, - or _")
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if len(value) > 256 or not _is_subject(value):
            raise ValueError(f"{value!r} is not a NATS subject (tokens separated by ., wildcards * and > last)")
        return value

    @model_validator(mode="after")
    def _pending_covers_a_batch(self) -> NatsConfig:
        if self.max_ack_pending < self.batch:
            raise ValueError("max_ack_pending must be at least batch (a fetch would never fill)")
        return self


# --- Kubernetes ----------------------------------------------------------------------------------------

K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # an RFC 1123 label (namespace names)


class KubeInCluster(_Config):
    """The pod's service account (token and CA mounted under /var/run/secrets/kubernetes.io)."""

    type: Literal["in_cluster"]


class KubeConfigFile(_Config):
    """A kubeconfig file (``path``; default ``$KUBECONFIG`` or ~/.kube/config) and optionally a context."""

    type: Literal["kubeconfig"]
    path: ReadableFile | None = None
    context: str | None = None


KubeAuth = Annotated[KubeInCluster | KubeConfigFile, Field(discriminator="type")]


class WarningEvents(_Config):
    """Warning events (core/v1 Event, type Warning) as alerts that resolve ``window`` after the last one."""

    enabled: bool = Field(True, strict=True)
    window: PositiveDuration = timedelta(minutes=15)
    # BackOff repeats what the crash-loop and image-pull alerts already say.
    exclude_reasons: tuple[str, ...] = ("BackOff",)
    include_reasons: tuple[str, ...] = ()  # non-empty: only these reasons


class KubernetesConfig(_Config):
    """``kubernetes:`` of a Kubernetes source: what to watch and when a condition becomes an alert."""

    cluster: str = Field(min_length=1, max_length=253)  # the `cluster` label of every alert
    auth: KubeAuth
    namespaces: tuple[str, ...] = ()  # pods and events of these namespaces; empty: every namespace
    pending_after: PositiveDuration = timedelta(minutes=5)
    node_not_ready_after: PositiveDuration = timedelta(minutes=2)
    oom_window: PositiveDuration = timedelta(minutes=15)  # an OOM kill alert fires that long after the kill
    crash_loop_restarts: int = Field(1, ge=1, strict=True)  # restarts before a CrashLoopBackOff counts
    warning_events: WarningEvents = Field(default_factory=WarningEvents)
    # Every resync the current conditions are re-sent with endsAt = now + 4 × resync, so an alert whose
    # condition cleared while the source was away resolves by itself; it is also the timer that turns a
    # pod pending past pending_after into an alert.
    resync: PositiveDuration = timedelta(seconds=60)
    watch_timeout: PositiveDuration = timedelta(minutes=5)  # a watch request's server-side timeoutSeconds

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not K8S_NAME.match(name):
                raise ValueError(f"{name!r} is not a namespace name")
        if len(set(names)) != len(names):
            raise ValueError("a namespace is listed twice")
        return names


# --- the source ------------------------------------------------------------------------------------

# Limits when a file gives none, per kind: a poll answer holds every alert of its upstream at once, a
# Kubernetes list page up to 500 objects; ``max_alerts`` of a Kubernetes source bounds the conditions
# it tracks.
KIND_LIMITS: dict[str, dict[str, int]] = {
    "push": {"max_body_bytes": MIB, "max_alerts": 1000},
    "poll": {"max_body_bytes": 64 * MIB, "max_alerts": 100_000},
    "stream": {"max_body_bytes": MIB, "max_alerts": 1000},
    "kubernetes": {"max_body_bytes": 64 * MIB, "max_alerts": 100_000},
}


class Source(_Config):
    """One source of alerts, as declared in its file (or built directly in tests)."""

    name: str
    kind: SourceKind = "push"
    type: str  # one of KIND_TYPES[kind] (SourceType); checked with the kind's list in the message
    path: str | None = Field(None, validate_default=True)  # push only; filled per type
    auth: AuthConfig | None = Field(None, validate_default=True)  # push only, and explicit there
    limits: Limits = Field(None, validate_default=True)  # type: ignore[assignment]  # defaults per kind
    # Added to every alert of the source when the alert lacks the label (Prometheus's external_labels
    # rule: the sender's own value wins), before the fingerprint is computed.
    labels: dict[LabelName, StaticLabelValue] = {}
    # generic (push), json (poll) and nats with format generic; validated by the ingest core's
    # GenericMapping, kept raw here.
    mapping: dict[str, Any] | None = None
    resolve_timeout: PositiveDuration | None = None  # None: the Alertmanager global applies
    enabled: bool = Field(True, strict=True)
    poll: PollConfig | None = None
    nats: NatsConfig | None = None
    kubernetes: KubernetesConfig | None = None
    breaker: Breaker | None = None  # filled for poll and stream sources

    _file: Path | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _breaker_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("kind", "push") != "push" and data.get("breaker") is None:
            data = {**data, "breaker": {}}
        return data

    @field_validator("name")
    @classmethod
    def _name_format(cls, name: str, info: ValidationInfo) -> str:
        if not SOURCE_NAME.match(name):
            hint = " (taken from the file name; set name: explicitly)" if (info.context or {}).get(
                "name_from_file") else ""
            raise ValueError(f"{name!r} must be lower case letters, digits, - or _{hint}")
        return name

    @field_validator("type")
    @classmethod
    def _type_of_kind(cls, source_type: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is not None and source_type not in KIND_TYPES[kind]:
            other = next((k for k, types in KIND_TYPES.items() if source_type in types), None)
            hint = f" (it is a {other} type: set kind: {other})" if other else ""
            raise ValueError(f"{source_type!r} is not a {kind} source type{hint}; {kind} types: "
                             f"{', '.join(KIND_TYPES[kind])}")
        return source_type

    @field_validator("path", mode="before")
    @classmethod
    def _default_path(cls, path: Any, info: ValidationInfo) -> Any:
        kind, source_type, name = info.data.get("kind"), info.data.get("type"), info.data.get("name")
        if kind is not None and kind != "push":
            if path is not None:
                raise ValueError(f"only push sources have a path; a {kind} source is not posted to")
            return None
        if path is not None:
            return path
        if source_type is None or name is None or source_type not in DEFAULT_PATHS:
            # kind, type or name already failed and is reported; a placeholder avoids a second,
            # misleading "path" error. The model is never built in this case.
            return "/invalid"
        return DEFAULT_PATHS[source_type].format(name=name)

    @field_validator("path")
    @classmethod
    def _path_format(cls, path: str | None) -> str | None:
        if path is not None and not SOURCE_PATH.match(path):
            raise ValueError(
                f"{path!r} must be an absolute URL path without query, placeholder or trailing /"
            )
        return path

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_is_explicit(cls, auth: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is not None and kind != "push":
            if auth is not None:
                raise ValueError(
                    f"only push sources take auth (who may post); a {kind} source's credentials for its "
                    "upstream go in its own block (poll.auth, nats.auth, kubernetes.auth)")
            return None
        # Never default to open: a file that forgets auth must not accept anyone.
        if auth is None:
            raise ValueError(
                "required: write `auth: none` to accept unauthenticated requests, "
                "or configure type bearer or hmac"
            )
        if isinstance(auth, str):
            if auth == "none":
                return {"type": "none"}
            # The value is not echoed: it may be a secret pasted into the wrong place.
            raise ValueError("must be `none` or a mapping with type bearer or hmac")
        return auth

    @field_validator("limits", mode="before")
    @classmethod
    def _kind_limits(cls, limits: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind") or "push"
        defaults = KIND_LIMITS["kubernetes" if info.data.get("type") == "kubernetes" else kind]
        if limits is None:
            return dict(defaults)
        if isinstance(limits, Mapping):
            return {**defaults, **limits}
        return limits

    @model_validator(mode="after")
    def _blocks_match_the_type(self, info: ValidationInfo) -> Source:
        wanted = TYPE_BLOCKS.get(self.type)
        for block in ("poll", "nats", "kubernetes"):
            present = getattr(self, block) is not None
            if block == wanted and not present:
                raise ValueError(f"{block}: required for type {self.type}")
            if block != wanted and present:
                raise ValueError(f"{block}: only allowed for type "
                                 f"{' or '.join(t for t, b in TYPE_BLOCKS.items() if b == block)}, not {self.type}")
        if self.kind == "push" and self.breaker is not None:
            raise ValueError("breaker: only poll and stream sources call an upstream")
        if self.poll is not None and self.poll.filter and self.type != "alertmanager":
            raise ValueError("poll.filter: only for type alertmanager (its API's filter parameter)")
        if self.needs_mapping and self.mapping is None:
            what = "nats.format generic" if self.type == "nats" else f"type {self.type}"
            raise ValueError(f"mapping: required for {what} (how to read the sender's JSON)")
        if not self.needs_mapping and self.mapping is not None:
            raise ValueError(f"mapping: only allowed for type generic, json, or nats with format generic, "
                             f"not {self.type}")
        file = (info.context or {}).get("file")
        if file is not None:
            self._file = Path(file)
        return self

    @property
    def needs_mapping(self) -> bool:
        """Whether the source reads its alerts through a generic mapping."""
        return self.type in ("generic", "json") or (self.nats is not None and self.nats.format == "generic")

    @property
    def format(self) -> str:
        """The ingest format its payloads are read with (pipeline.ingest.formats)."""
        if self.nats is not None:
            return self.nats.format
        return self.type

    @property
    def file(self) -> Path | None:
        """The file the source was loaded from; None when built in code."""
        return self._file

    @property
    def origin(self) -> str:
        """Where the source came from, for messages."""
        return str(self._file) if self._file is not None else f"source {self.name!r}"

    @property
    def target(self) -> str:
        """Where its alerts come from, for listings: a path, URLs, a subject or a cluster."""
        if self.kind == "push":
            return self.path or ""
        if self.poll is not None:
            return " ".join(self.poll.urls)
        if self.nats is not None:
            return f"{self.nats.stream}/{self.nats.subject} @ {' '.join(self.nats.servers)}"
        assert self.kubernetes is not None
        return f"cluster {self.kubernetes.cluster}"


# --- loading ---------------------------------------------------------------------------------------


def _key_path(loc: tuple[int | str, ...]) -> str:
    # An auth union adds its tag to the location ("auth", "hmac", "secret"; "poll", "auth", "basic",
    # "password"); the file has no such key.
    loc = tuple(part for index, part in enumerate(loc)
                if not (index and loc[index - 1] == "auth" and part in AUTH_TAGS) and part != "[key]")
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parse error by position only: PyYAML's own message quotes the offending line, which may
    hold a secret."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"not valid YAML{where}: {getattr(exc, 'problem', None) or 'parse error'}"


def describe_validation_error(error: ValidationError, origin: str) -> str:
    """One ``origin: key: message`` line per problem. Inputs are never included: they may be secrets."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False, include_context=True):
        message = problem["msg"]
        if problem["type"] == "value_error":
            message = str(problem["ctx"]["error"])
        key = _key_path(problem["loc"])
        lines.append(f"{origin}: {key}: {message}" if key else f"{origin}: {message}")
    return "\n".join(lines)


def load_source(file: Path | str, environ: Mapping[str, str] | None = None) -> Source:
    """Read and validate one source file; environment references are resolved from ``environ``."""
    file = Path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourceError(f"{file}: {yaml_problem(exc)}") from None
    if document is None:
        raise SourceError(f"{file}: the file is empty; a source needs at least type and auth")
    if not isinstance(document, dict):
        raise SourceError(f"{file}: expected a mapping of source settings (type, auth, ...)")
    name_from_file = "name" not in document
    if name_from_file:
        document = {"name": file.stem, **document}
    context = {"file": file, "environ": environ, "name_from_file": name_from_file}
    try:
        return Source.model_validate(document, context=context)
    except ValidationError as exc:
        raise SourceError(describe_validation_error(exc, str(file))) from None


def _kind_of(file: Path) -> str | None:
    """The ``kind`` a source file declares (push when absent), read without validating the rest;
    None when the file cannot tell (load_source then reports why)."""
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    kind = document.get("kind", "push")
    return kind if isinstance(kind, str) else None


def load_sources(directory: Path | str, environ: Mapping[str, str] | None = None,
                 kinds: Iterable[str] | None = None) -> SourceRegistry:
    """Load every ``*.yaml``/``*.yml`` file of a directory (not recursive; dotfiles skipped).

    All files are validated before anything is reported, so one run lists every problem. ``kinds``
    keeps only the sources of those kinds: the files of other kinds are not validated (the bridge
    need not hold the credentials of the poll and stream sources, nor the reverse); a file whose kind
    cannot be read is validated anyway, so its problem is reported.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceError(f"{directory}: no such sources directory")
    files = sorted(
        path for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file()
    )
    if not files:
        raise SourceError(
            f"{directory}: no source files (*.yaml); nothing would be accepted "
            "(deploy/local/sources has examples)"
        )
    wanted = set(kinds) if kinds is not None else None
    sources: list[Source] = []
    problems: list[str] = []
    for file in files:
        if wanted is not None:
            kind = _kind_of(file)
            if kind is not None and kind in KIND_TYPES and kind not in wanted:
                continue
        try:
            sources.append(load_source(file, environ))
        except SourceError as exc:
            problems.append(str(exc))
    if problems:
        raise SourceError("\n".join(problems))
    if not sources:
        raise SourceError(f"{directory}: no {' or '.join(sorted(wanted or ()))} source files "
                          "(deploy/local/sources has examples)")
    return SourceRegistry(sources)


class SourceRegistry:
    """The validated sources: unique names, and unique paths among the enabled ones.

    A disabled source keeps its name (it still owns its file) but is not routed, so ``for_path``
    does not return it and another source may take over its path.
    """

    def __init__(self, sources: Iterable[Source]) -> None:
        self._by_name: dict[str, Source] = {}
        self._by_path: dict[str, Source] = {}
        problems = []
        for source in sources:
            other = self._by_name.get(source.name)
            if other is not None:
                problems.append(
                    f"source name {source.name!r} is used by both {other.origin} and {source.origin}"
                )
                continue
            self._by_name[source.name] = source
            if not source.enabled or source.path is None:
                continue
            other = self._by_path.get(source.path)
            if other is not None:
                problems.append(f"path {source.path} is claimed by both {other.origin} and {source.origin}")
                continue
            self._by_path[source.path] = source
        if problems:
            raise SourceError("\n".join(problems))

    def for_path(self, path: str) -> Source | None:
        """The enabled push source posting to exactly this path, if any."""
        return self._by_path.get(path)

    def get(self, name: str) -> Source | None:
        """A source by name, enabled or not."""
        return self._by_name.get(name)

    def all(self) -> tuple[Source, ...]:
        """Every source, disabled ones included, sorted by name."""
        return tuple(self._by_name[name] for name in sorted(self._by_name))

    def __iter__(self) -> Iterator[Source]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_name)

    def of_kind(self, *kinds: str) -> tuple[Source, ...]:
        """The sources of these kinds, disabled ones included, sorted by name."""
        return tuple(source for source in self.all() if source.kind in kinds)

    def __repr__(self) -> str:
        return f"SourceRegistry({', '.join(f'{s.name}={s.target}' for s in self.all())})"
