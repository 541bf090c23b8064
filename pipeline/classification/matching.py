"""Matcher lists as they appear in the classification file: Alertmanager syntax, checked at load."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from pipeline.matchers import Matchers, MatcherError, parse_matchers


def _parse(value: Any) -> Matchers:
    if isinstance(value, Matchers):
        return value
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a matcher string or a list of them, e.g. ['severity=\"critical\"']")
    try:
        # Each entry may itself be a comma-separated list ({a="1",b=~"x"}); all must match.
        return Matchers(matcher for item in value for matcher in parse_matchers(item))
    except MatcherError as exc:
        raise ValueError(str(exc)) from None


# A YAML matcher list: `match: ['severity=~"critical|page"', 'team="db"']` (AND).
MatcherList = Annotated[Matchers, PlainValidator(_parse), PlainSerializer(lambda m: [str(x) for x in m])]
