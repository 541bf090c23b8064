"""Workflows of the classification file: a trigger and ordered actions. Configuration and trigger
matching are pure; pipeline.enrichment.engine runs the actions.

```yaml
workflows:
  - name: db-runbooks
    trigger: {alertname: 'Postgres.*', labels: ['env="prod"'], priority: [P0, P1], namespace: 'db|data'}
    actions:
      - {type: annotations, annotations: {runbook_url: 'https://runbooks/{{ labels.alertname }}'}}
      - {type: link, title: Dashboard, url: 'https://grafana/d/x?var-instance={{ labels.instance | urlencode }}'}
      - {type: link, title: Trace, url: 'https://jaeger/trace/{{ labels.trace_id }}', if: ['trace_id!=""']}
      - {type: http, method: GET, url: 'https://cmdb/hosts/{{ labels.host }}', result: {owner: owner.name}}
      - {type: script, command: [./lookup.py], timeout_s: 2, env: [CMDB_TOKEN]}
    # HTTP lookups reach only the hosts written in their URLs and these (a leading *. matches any
    # subdomain); addresses that are private, loopback or link-local only inside allowed_networks.
    allowed_hosts: ['*.cmdb.internal']
    allowed_networks: ['10.20.0.0/16']
```
All trigger fields are optional and AND-ed; a workflow without a trigger applies to every alert.
An http action whose URL takes its host from the alert (``https://{{ labels.host }}/…``) needs
``allowed_hosts``: the workflow is refused at load without it (pipeline.enrichment.egress explains why).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, field_validator, model_validator

from pipeline.classification.matching import MatcherList
from pipeline.enrichment.templates import TemplateText
from pipeline.models import Priority
from pipeline.regex import GoRegexp, RegexError, compile_regexp

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _go_regex(value: object) -> GoRegexp:
    if isinstance(value, GoRegexp):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a regular expression string")
    try:
        return compile_regexp(value, anchored=True)
    except RegexError as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None


# Anchored like Alertmanager's =~ matchers.
GoRegex = Annotated[GoRegexp, PlainValidator(_go_regex), PlainSerializer(lambda p: p.pattern)]


def _jmespath(value: object):
    if not isinstance(value, str):
        raise ValueError("expected a JMESPath expression string")
    try:
        return jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"invalid JMESPath {value!r}: {exc}") from None


JmesPath = Annotated[object, PlainValidator(_jmespath), PlainSerializer(lambda e: e.expression)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Trigger(_Config):
    alertname: GoRegex | None = None
    labels: MatcherList | None = None
    priority: tuple[Priority, ...] = ()
    namespace: GoRegex | None = None

    def matches(self, labels: Mapping[str, str], priority: str | None) -> bool:
        if self.alertname is not None and not self.alertname.matches(labels.get("alertname", "")):
            return False
        if self.namespace is not None and not self.namespace.matches(labels.get("namespace", "")):
            return False
        if self.priority and priority not in self.priority:
            return False
        return self.labels is None or self.labels.matches(labels)


class _Action(_Config):
    when: MatcherList | None = Field(None, alias="if")
    timeout_s: float = Field(2.0, gt=0, le=60)

    def applies(self, labels: Mapping[str, str]) -> bool:
        return self.when is None or self.when.matches(labels)


class AnnotationsAction(_Action):
    type: Literal["annotations"]
    annotations: dict[str, TemplateText] = Field(min_length=1)
    overwrite: bool = False


class LinkAction(_Action):
    type: Literal["link"]
    title: TemplateText
    url: TemplateText


class HttpAction(_Action):
    type: Literal["http"]
    method: Literal["GET", "POST"] = "GET"
    url: TemplateText
    headers: dict[str, TemplateText] = {}
    # POST body: each value a template, sent as a JSON object.
    body: dict[str, TemplateText] = {}
    cache_ttl_s: float = Field(300.0, ge=0)
    # annotation name -> JMESPath into the JSON answer; empty: every top-level string/number field.
    result: dict[str, JmesPath] = {}
    overwrite: bool = False
    # A larger answer is cut off and the action fails (the lookup is for a few fields, not a download).
    max_response_bytes: int = Field(1_048_576, ge=1, le=64 * 1_048_576)

    def literal_host(self) -> str | None:
        """The host written in the URL template itself, when no placeholder can change it: the URL's
        authority ends before the first ``{{`` (``https://cmdb/hosts/{{ … }}``, not ``https://cmdb{{ … }}``)."""
        source = self.url.source
        cut = source.find("{{")
        fixed = source if cut < 0 else source[:cut]
        scheme, sep, rest = fixed.partition("://")
        if not sep or not scheme or (cut >= 0 and not any(c in rest for c in "/?#")):
            return None
        try:
            return normalize_host(urlsplit(fixed).hostname or "")
        except ValueError:
            return None

    @field_validator("body")
    @classmethod
    def _body_only_for_post(cls, value, info):
        if value and info.data.get("method") == "GET":
            raise ValueError("a GET lookup has no body; use method: POST")
        return value


class ScriptAction(_Action):
    type: Literal["script"]
    command: tuple[str, ...] = Field(min_length=1)
    # Names of environment variables passed to the script; nothing else of the worker's environment is.
    env: tuple[Annotated[str, Field(pattern=ENV_NAME)], ...] = ()
    overwrite: bool = False


EnrichmentAction = Annotated[
    AnnotationsAction | LinkAction | HttpAction | ScriptAction, Field(discriminator="type")
]


def normalize_host(host: str) -> str:
    """Lower case, IDNA-encoded, no trailing dot: how hosts are compared."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return ""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    return host.encode("idna").decode("ascii") if not host.isascii() else host


def _host_pattern(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a host name, e.g. cmdb.example.com or *.example.com")
    wildcard = value.strip().startswith("*.")
    host = value.strip()[2:] if wildcard else value.strip()
    if any(c in host for c in "/:@?#*") and not _is_ip(host):
        raise ValueError(f"{value!r}: a host name only (no scheme, port, path or inner wildcard)")
    return ("*." if wildcard else "") + normalize_host(host)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r}: not an IP network ({exc})") from None


HostPattern = Annotated[str, PlainValidator(_host_pattern)]
Network = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, PlainValidator(_network), PlainSerializer(str)]


class Workflow(_Config):
    name: str = Field(min_length=1)
    trigger: Trigger = Trigger()
    actions: tuple[EnrichmentAction, ...] = Field(min_length=1)
    # Hosts the http actions may call besides those written literally in their URLs.
    allowed_hosts: tuple[HostPattern, ...] = ()
    # Private, loopback or link-local networks the http actions may reach (e.g. an internal CMDB).
    allowed_networks: tuple[Network, ...] = ()

    @model_validator(mode="after")
    def _hosts_named(self) -> Workflow:
        for index, action in enumerate(self.actions):
            if isinstance(action, HttpAction) and action.literal_host() is None and not self.allowed_hosts:
                raise ValueError(
                    f"actions.{index}: the URL {action.url.source!r} takes its host from the alert; list the "
                    "hosts it may call in the workflow's allowed_hosts (a sender controls its labels)")
        return self

    def may_call(self, action: HttpAction, host: str) -> bool:
        """Whether ``host`` (normalized) is the action's literal host or one of ``allowed_hosts``."""
        if host and host == action.literal_host():
            return True
        for pattern in self.allowed_hosts:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return False
