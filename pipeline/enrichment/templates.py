"""Templates of enrichment actions: ``{{ path | filter … }}`` placeholders in plain text. Pure.

Paths: ``labels.<name>``, ``annotations.<name>``, ``classification.<field>``, ``fingerprint``,
``status``, ``starts_at`` (RFC 3339) and ``generator_url``. Filters: ``urlencode`` (for a URL query
or path part), ``lower``, ``upper``, ``default("text")`` (instead of failing when the value is missing).
Deliberately not a general template language: templates come from configuration and end up in URLs
and commands' input, so they can only substitute values. A template that does not parse stops the
worker at start-up; one that needs a missing value fails that action only (an enrichment error).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import PlainSerializer, PlainValidator

from pipeline.models import EnrichedAlert, to_builtins

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_DEFAULT = re.compile(r'^default\(\s*"((?:[^"\\]|\\.)*)"\s*\)$')
_ROOTS = {"labels", "annotations", "classification", "fingerprint", "status", "starts_at", "generator_url"}
_FILTERS: dict[str, Callable[[str], str]] = {
    "urlencode": lambda v: quote(v, safe=""),
    "lower": str.lower,
    "upper": str.upper,
}


class RenderError(ValueError):
    """A template could not be rendered for this alert (usually: a label it needs is missing)."""


class _Missing(Exception):
    pass


class Template:
    """A parsed template that remembers its source (for messages and serialisation)."""

    def __init__(self, source: str):
        self.source = source
        self._parts: list[str | tuple[tuple[str, ...], str | None, tuple[Callable[[str], str], ...]]] = []
        position = 0
        for found in _PLACEHOLDER.finditer(source):
            self._parts.append(source[position:found.start()])
            self._parts.append(self._placeholder(found.group(1)))
            position = found.end()
        tail = source[position:]
        if "{{" in tail or "}}" in tail:
            raise ValueError(f"template {source!r}: unbalanced {{{{ }}}}")
        self._parts.append(tail)

    def _placeholder(self, inner: str):
        path, *filter_texts = [part.strip() for part in inner.split("|")]
        if not _PATH.match(path) or path.split(".")[0] not in _ROOTS:
            raise ValueError(f"template {self.source!r}: unknown value {path!r}; use one of "
                             f"{', '.join(sorted(_ROOTS))} (labels.<name>, annotations.<name>, …)")
        default: str | None = None
        filters: list[Callable[[str], str]] = []
        for text in filter_texts:
            found = _DEFAULT.match(text)
            if found is not None:
                default = re.sub(r"\\(.)", r"\1", found.group(1))
            elif text in _FILTERS:
                filters.append(_FILTERS[text])
            else:
                raise ValueError(f"template {self.source!r}: unknown filter {text!r}; use "
                                 f"{', '.join(_FILTERS)} or default(\"text\")")
        return tuple(path.split(".")), default, tuple(filters)

    def render(self, context: dict[str, Any]) -> str:
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            path, default, filters = part
            try:
                value = _resolve(context, path)
            except _Missing:
                if default is None:
                    raise RenderError(f"template {self.source!r}: {'.'.join(path)} is missing "
                                      "(add | default(\"…\") or an `if` to the action)") from None
                value = default
            for apply in filters:
                value = apply(value)
            out.append(value)
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def _resolve(context: dict[str, Any], path: tuple[str, ...]) -> str:
    value: Any = context
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise _Missing
        value = value[name]
    if value is None or value == "" or isinstance(value, dict):
        raise _Missing  # an empty label is no label (Alertmanager)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _template(value: Any) -> Template:
    if isinstance(value, Template):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a template string")
    return Template(value)


TemplateText = Annotated[Template, PlainValidator(_template), PlainSerializer(lambda t: t.source)]


def template_context(alert: EnrichedAlert, annotations: dict[str, str]) -> dict[str, Any]:
    """What templates see: the alert as classified, with annotations added by earlier actions."""
    classification = to_builtins(alert.classification) if alert.classification else {}
    return {
        "labels": dict(alert.alert.labels),
        "annotations": dict(annotations),
        "classification": classification,
        "fingerprint": alert.alert.fingerprint,
        "status": alert.alert.status,
        "starts_at": alert.alert.starts_at.isoformat().replace("+00:00", "Z"),
        "generator_url": alert.alert.generator_url,
    }
