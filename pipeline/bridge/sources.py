"""Ingest sources as configuration: one YAML file per sender, validated into a registry.

A source says what a sender speaks (``type``), where it posts (``path``), how it proves who it is
(``auth``, always explicit) and how much it may send (``limits``). Secrets come inline or from
environment variables, are resolved when the file is loaded, and are kept as pydantic secrets so
that no repr, log line or error message shows them. Pure data: no HTTP, no Kafka.

    name: upstream-am                   # optional, defaults to the file name without .yaml
    type: alertmanager-webhook          # alertmanager-v2 | alertmanager-webhook | grafana | generic
    path: /api/v1/webhooks/alertmanager # optional, defaults per type
    auth: {type: bearer, tokens_env: UPSTREAM_AM_TOKENS}   # or `auth: none`, or type hmac
    limits: {max_body_bytes: 1048576, max_alerts: 1000, rate_limit: {requests_per_second: 5, burst: 20}}
    resolve_timeout: 5m                 # optional, overrides the Alertmanager global
    enabled: true
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

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

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Non-empty segments of URL path characters; no query, fragment, placeholder or trailing slash,
# so that a path has exactly one spelling and duplicate detection is a string comparison.
SOURCE_PATH = re.compile(r"^(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 9110 token
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SourceType = Literal["alertmanager-v2", "alertmanager-webhook", "grafana", "generic"]
DEFAULT_PATHS: dict[str, str] = {
    "alertmanager-v2": "/api/v2/alerts",  # where Prometheus posts when the bridge is its Alertmanager
    "alertmanager-webhook": "/api/v1/webhooks/alertmanager",
    "grafana": "/api/v1/webhooks/grafana",
    "generic": "/api/v1/webhooks/generic/{name}",
}
AUTH_TYPES = ("none", "bearer", "hmac")
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


# --- the source ------------------------------------------------------------------------------------


class Source(_Config):
    """One sender of alerts, as declared in its file (or built directly in tests)."""

    name: str
    type: SourceType
    path: str = Field(None, validate_default=True)  # type: ignore[assignment]  # filled per type
    auth: AuthConfig = Field(None, validate_default=True)  # type: ignore[assignment]  # explicit
    limits: Limits = Field(default_factory=Limits)
    # Only for generic sources; validated by the ingest core's GenericMapping, kept raw here.
    mapping: dict[str, Any] | None = None
    resolve_timeout: PositiveDuration | None = None  # None: the Alertmanager global applies
    enabled: bool = Field(True, strict=True)

    _file: Path | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _name_format(cls, name: str, info: ValidationInfo) -> str:
        if not SOURCE_NAME.match(name):
            hint = " (taken from the file name; set name: explicitly)" if (info.context or {}).get(
                "name_from_file") else ""
            raise ValueError(f"{name!r} must be lower case letters, digits, - or _{hint}")
        return name

    @field_validator("path", mode="before")
    @classmethod
    def _default_path(cls, path: Any, info: ValidationInfo) -> Any:
        if path is not None:
            return path
        source_type, name = info.data.get("type"), info.data.get("name")
        if source_type is None or name is None:
            # type or name already failed and is reported; a placeholder avoids a second,
            # misleading "path" error. The model is never built in this case.
            return "/invalid"
        return DEFAULT_PATHS[source_type].format(name=name)

    @field_validator("path")
    @classmethod
    def _path_format(cls, path: str) -> str:
        if not SOURCE_PATH.match(path):
            raise ValueError(
                f"{path!r} must be an absolute URL path without query, placeholder or trailing /"
            )
        return path

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_is_explicit(cls, auth: Any) -> Any:
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

    @model_validator(mode="after")
    def _mapping_only_for_generic(self, info: ValidationInfo) -> Source:
        if self.type == "generic" and self.mapping is None:
            raise ValueError("mapping: required for type generic (how to read the sender's JSON)")
        if self.type != "generic" and self.mapping is not None:
            raise ValueError(f"mapping: only allowed for type generic, not {self.type}")
        file = (info.context or {}).get("file")
        if file is not None:
            self._file = Path(file)
        return self

    @property
    def file(self) -> Path | None:
        """The file the source was loaded from; None when built in code."""
        return self._file

    @property
    def origin(self) -> str:
        """Where the source came from, for messages."""
        return str(self._file) if self._file is not None else f"source {self.name!r}"


# --- loading ---------------------------------------------------------------------------------------


def _key_path(loc: tuple[int | str, ...]) -> str:
    # The auth union adds its tag to the location ("auth", "hmac", "secret"); the file has no such key.
    if len(loc) > 1 and loc[0] == "auth" and loc[1] in AUTH_TYPES:
        loc = loc[:1] + loc[2:]
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


def load_sources(directory: Path | str, environ: Mapping[str, str] | None = None) -> SourceRegistry:
    """Load every ``*.yaml``/``*.yml`` file of a directory (not recursive; dotfiles skipped).

    All files are validated before anything is reported, so one run lists every problem.
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
            f"{directory}: no source files (*.yaml); the bridge would accept nothing "
            "(deploy/local/sources has examples)"
        )
    sources: list[Source] = []
    problems: list[str] = []
    for file in files:
        try:
            sources.append(load_source(file, environ))
        except SourceError as exc:
            problems.append(str(exc))
    if problems:
        raise SourceError("\n".join(problems))
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
            if not source.enabled:
                continue
            other = self._by_path.get(source.path)
            if other is not None:
                problems.append(f"path {source.path} is claimed by both {other.origin} and {source.origin}")
                continue
            self._by_path[source.path] = source
        if problems:
            raise SourceError("\n".join(problems))

    def for_path(self, path: str) -> Source | None:
        """The enabled source posting to exactly this path, if any."""
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

    def __repr__(self) -> str:
        return f"SourceRegistry({', '.join(f'{s.name}={s.path}' for s in self.all())})"
