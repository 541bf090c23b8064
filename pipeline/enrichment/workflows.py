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
```
All trigger fields are optional and AND-ed; a workflow without a trigger applies to every alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, field_validator

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


class Workflow(_Config):
    name: str = Field(min_length=1)
    trigger: Trigger = Trigger()
    actions: tuple[EnrichmentAction, ...] = Field(min_length=1)
