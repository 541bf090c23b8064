"""Alertmanager label matchers (pkg/labels/matcher.go and pkg/labels/parse.go of Alertmanager 0.25).

A matcher is ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~``. Regex matchers are anchored
as ``^(?:value)$`` (the text concatenated before parsing, as Go does) and a missing label matches as the
empty string. Regular expressions are Go's (RE2), compiled and matched by RE2 in linear time: see
:mod:`pipeline.regex` for what it accepts and refuses.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pipeline.regex import GoRegexp, RegexError, compile_anchored

__all__ = [
    "MatchType",
    "Matcher",
    "MatcherError",
    "Matchers",
    "go_quote",
    "parse_matcher",
    "parse_matchers",
]


class MatcherError(ValueError):
    """A matcher (or its regular expression) that Alertmanager would not accept."""


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    def __str__(self) -> str:
        return self.value


# Go's MatchType is an int enum in this order; Matchers sort by it last.
_TYPE_ORDER = {MatchType.EQUAL: 0, MatchType.NOT_EQUAL: 1, MatchType.REGEX: 2, MatchType.NOT_REGEX: 3}


# --------------------------------------------------------------------------------------------------
# Go strconv.Quote (the %q verb)


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double-quoted, ``\\"`` and ``\\\\`` escaped, control and unprintable
    characters as ``\\n``-style, ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN`` escapes, printable Unicode kept."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif char.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(char)
        elif char in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[char])
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # Go sees invalid UTF-8 here and prints the replacement escape
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


# --------------------------------------------------------------------------------------------------
# Matcher


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``str()`` is Alertmanager's ``Matcher.String()``."""

    name: str
    type: MatchType
    value: str
    _regex: GoRegexp | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.type, MatchType):
            raise MatcherError(f"unknown match type {self.type!r}")
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                object.__setattr__(self, "_regex", compile_anchored(self.value))
            except RegexError as exc:
                if exc.args[0].startswith("error parsing regexp"):
                    raise MatcherError(str(exc)) from None
                raise MatcherError(f"matcher {self.name}{self.type.value}…: {exc}") from None

    def matches(self, value: str) -> bool:
        """Whether the label value satisfies this matcher (pass ``""`` for a missing label)."""
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        hit = self._regex.matches(value)
        return hit if self.type is MatchType.REGEX else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.type.value}{go_quote(self.value)}"

    def sort_key(self) -> tuple[str, str, int]:
        """Go's ``Matchers.Less``: by name, then value, then match type."""
        return (self.name, self.value, _TYPE_ORDER[self.type])


class Matchers(tuple[Matcher, ...]):
    """An AND-ed list of matchers; ``str()`` is Alertmanager's ``Matchers.String()``: ``{a="1",b=~"x"}``."""

    def __new__(cls, matchers: Iterable[Matcher] = ()) -> Matchers:
        return super().__new__(cls, tuple(matchers))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self)

    def sorted(self) -> Matchers:
        """The order Alertmanager sorts matchers into (``sort.Sort(labels.Matchers)``)."""
        return Matchers(sorted(self, key=Matcher.sort_key))

    def __str__(self) -> str:
        return "{" + ",".join(str(m) for m in self) + "}"

    def __repr__(self) -> str:
        return f"Matchers({list(self)!r})"


# --------------------------------------------------------------------------------------------------
# Parsing (pkg/labels/parse.go)

# Go's \s is [\t\n\f\r ].
_GO_WS = "\t\n\f\r "
_LABEL_NAME = re.compile("[a-zA-Z_:][a-zA-Z0-9_:]*")
# Go's strings.TrimSpace (unicode.IsSpace).
_GO_UNICODE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _split_matcher(text: str) -> tuple[str, str, str] | None:
    """Go's ``^\\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*(=~|=|!=|!~)\\s*((?s).*?)\\s*$`` in one pass: the name is
    the longest run of name characters (the operator's characters are not among them), ``=~`` is tried
    before ``=``, and the lazy value ends where only whitespace is left. (Python's backtracking ``re``
    took quadratic time on that pattern: 16 KB of spaces inside a value cost a second.)"""
    start = len(text) - len(text.lstrip(_GO_WS))
    name = _LABEL_NAME.match(text, start)
    if name is None:
        return None
    rest = text[name.end() :].lstrip(_GO_WS)
    for op in ("=~", "=", "!=", "!~"):
        if rest.startswith(op):
            return name.group(0), op, rest[len(op) :].lstrip(_GO_WS).rstrip(_GO_WS)
    return None


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher as ``labels.ParseMatcher`` does: ``a="b"``, ``a=~"x|y"``, ``a!=b`` (unquoted
    values allowed; ``\\"``, ``\\n`` and ``\\\\`` are the escapes; a lone backslash is literal)."""
    found = _split_matcher(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found
    quoted_raw = raw
    expect_trailing_quote = False
    if raw.startswith('"'):
        raw = raw[1:]
        expect_trailing_quote = True
    if any(0xD800 <= ord(c) <= 0xDFFF for c in raw):
        raise MatcherError(f"matcher value not valid UTF-8: {quoted_raw}")
    value: list[str] = []
    escaped = False
    last = len(raw) - 1
    for i, char in enumerate(raw):
        if escaped:
            escaped = False
            if char == "n":
                value.append("\n")
            elif char in ('"', "\\"):
                value.append(char)
            else:  # a spurious escape: the backslash is literal
                value.append("\\" + char)
            continue
        if char == "\\":
            if i < last:
                escaped = True
                continue
            value.append("\\")  # backslash as the last character: literal
        elif char == '"':
            if not expect_trailing_quote or i < last:
                raise MatcherError(f"matcher value contains unescaped double quote: {quoted_raw}")
            expect_trailing_quote = False
        else:
            value.append(char)
    if expect_trailing_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {quoted_raw}")
    return Matcher(name, MatchType(op), "".join(value))


def parse_matchers(text: str) -> Matchers:
    """Parse a comma-separated matcher list as ``labels.ParseMatchers``: an optional leading ``{`` and
    trailing ``}``, commas inside double quotes do not split, a trailing comma is ignored."""
    if text.startswith("{"):
        text = text[1:]
    if text.endswith("}"):
        text = text[:-1]
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = False
    escaped = False
    for char in text:
        if char == ",":
            if not inside_quotes:
                tokens.append("".join(token))
                token = []
                continue
        elif char == '"':
            if not escaped:
                inside_quotes = not inside_quotes
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    last = "".join(token).strip(_GO_UNICODE_SPACE)
    if last:
        tokens.append(last)
    return Matchers(parse_matcher(t) for t in tokens)
