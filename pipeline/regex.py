"""Go regular expressions (RE2 syntax and semantics) in linear time, on Google's RE2 (google-re2).

Every pattern a user supplies — matchers of routes, inhibit rules, silences and API filters, relabel
rules, classification rules, enrichment triggers — runs here, never in Python's ``re``: RE2 matches in
time linear in the text (``(a+)+b`` against 4 KiB of ``a`` takes microseconds; ``re`` backtracks
exponentially), and its syntax and leftmost-first semantics are those of Go's ``regexp``, which
Alertmanager and Prometheus use (Go's regexp is a port of RE2).

Where C++ RE2 and Go 1.19's ``regexp/syntax`` (Alertmanager 0.25's) differ, Go's verdict wins:

- refused here although C++ RE2 accepts them, as Go does: ``\\C`` (any byte), ``(?<name>…)`` (Go
  1.22 accepts it, Alertmanager 0.25 does not) and group names with non-ASCII characters;
- error messages are Go's (``error parsing regexp: missing closing ): `^(?:(a)$```): RE2's error codes
  are mapped to Go's texts; the quoted fragment is the same in both. When a pattern has several
  errors, the one named may differ from Go's choice;
- refused here, accepted by Go: programs over RE2's memory budget (``\\pL{1000}``: "expression too
  large"); Go refuses parse trees over 1000 levels deep, RE2 does not (the length cap bounds them).

Patterns longer than :func:`max_pattern_length` characters (setting ``max_regex_length``) are refused
with a message that names the limit and the setting.
"""

from __future__ import annotations

import functools
import unicodedata

from re2 import _re2

__all__ = [
    "DEFAULT_MAX_PATTERN_LENGTH",
    "GoRegexp",
    "RegexError",
    "compile_anchored",
    "compile_regexp",
    "max_pattern_length",
    "set_max_pattern_length",
]

DEFAULT_MAX_PATTERN_LENGTH = 4096
_limit = [DEFAULT_MAX_PATTERN_LENGTH]


class RegexError(ValueError):
    """A regular expression Go's ``regexp.Compile`` would refuse, or one over the length limit."""


def set_max_pattern_length(characters: int) -> None:
    """The process-wide cap on a user's pattern; :class:`pipeline.settings.Settings` installs
    ``max_regex_length`` when it is built."""
    if characters < 1:
        raise ValueError("max_regex_length must be at least 1")
    _limit[0] = characters


def max_pattern_length() -> int:
    return _limit[0]


# The binding's core (pybind11 over RE2 itself). Its pure-Python wrapper (re2.compile) costs ~5 µs per
# match for Python-`re` compatibility (str offsets, Match objects); matchers run on every alert, so
# they call RE2::Match directly (~1 µs). google-re2 is pinned to a minor version in pyproject.toml.
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED


def _options(captures: bool) -> _re2.RE2.Options:
    options = _re2.RE2.Options()
    options.log_errors = False  # errors are reported as RegexError, not printed to stderr
    options.never_capture = not captures  # a yes/no match needs no submatch tracking: faster
    # posix_syntax stays False: Perl classes, \b, non-greedy operators and one-line ^/$ as in Go.
    return options


_VERDICTS_PER_REGEXP = 64  # bound of each expression's memo of recent verdicts (a few KiB)
_VERDICT_VALUE_LENGTH = 128  # longer values are matched every time, never kept

_MATCH_OPTIONS = _options(False)
_CAPTURE_OPTIONS = _options(True)

# C++ RE2's error code texts (re2.cc CodeText) and Go's regexp/syntax ErrorCode texts.
_GO_ERROR = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
}


def _go_error(code: str, fragment: str) -> RegexError:
    # Go's regexp/syntax Error.Error(): "error parsing regexp: <code>: `<fragment>`"
    return RegexError(f"error parsing regexp: {code}: `{fragment}`")


def _from_re2_error(message: str, expression: str) -> RegexError:
    if message.startswith("pattern too large"):
        return RegexError(f"error parsing regexp: expression too large: `{expression}` "
                          "(its RE2 program exceeds the memory budget of one regular expression)")
    code, _, fragment = message.partition(": ")
    if code == "invalid perl operator" and fragment.startswith("(?<"):
        fragment = "(?<"  # C++ quotes lookbehinds whole ("(?<="); Go stops at the '<' it cannot take
    if code in _GO_ERROR:
        return _go_error(_GO_ERROR[code], fragment)
    return RegexError(f"error parsing regexp: {message}")  # pragma: no cover - RE2 has no other codes


# Go 1.19 refuses a parse tree taller than 1000 nodes ("expression nests too deeply", regexp/syntax
# maxHeight); RE2 has no such limit. Capturing groups are what makes a tree tall in practice: each is a
# node, and the expression's top (the anchors' concatenation) and its leaf add two more. Measured
# against Alertmanager 0.25: a filter of 998 nested groups is accepted, 999 refused; 999 nested
# non-capturing groups are accepted (they make no node).
_GO_MAX_HEIGHT = 1000


def _go_only_refusals(expression: str) -> None:
    """Refuse what C++ RE2 accepts but Go 1.19 does not, in Go's words (run after RE2 accepted the
    expression, so its structure is valid): ``\\C``, ``(?<``, non-ASCII group names, capturing groups
    nested past Go's parse tree height."""
    i, n = 0, len(expression)
    in_class = False
    groups: list[bool] = []  # open groups, True for a capturing one
    captures = deepest = 0
    while i < n:
        c = expression[i]
        if c == "\\":
            nxt = expression[i + 1 : i + 2]
            if nxt == "C":
                raise _go_error("invalid escape sequence", "\\C")
            if nxt == "Q" and not in_class:
                end = expression.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 2
            continue
        if in_class:
            if c == "[" and expression.startswith("[:", i):
                end = expression.find(":]", i + 2)
                if end >= 0:
                    i = end + 2
                    continue
            elif c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if expression[i : i + 1] == "^":
                i += 1
            if expression[i : i + 1] == "]":  # a leading ] is a literal
                i += 1
            continue
        if c == "(":
            capturing = not expression.startswith("(?", i) or expression.startswith("(?P<", i)
            if expression.startswith("(?<", i):
                raise _go_error("invalid or unsupported Perl syntax", "(?<")
            if expression.startswith("(?P<", i):
                end = expression.find(">", i)
                name = expression[i + 4 : end]
                if not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                    raise _go_error("invalid named capture", expression[i : end + 1])
            groups.append(capturing)
            captures += capturing
            deepest = max(deepest, captures)
        elif c == ")" and groups:
            captures -= groups.pop()
        i += 1
    if deepest + 2 > _GO_MAX_HEIGHT:
        raise _go_error("expression nests too deeply", expression)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Lone surrogates (a "\ud800" JSON escape): Go sees invalid UTF-8, which it reads as U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


class GoRegexp:
    """One compiled Go regular expression. ``matches`` answers whether it matches anywhere in the text
    (anchor the expression, as :func:`compile_anchored` does, for a whole-value match). ``pattern`` is
    the user's text, ``expression`` what was compiled (with the anchors)."""

    __slots__ = ("pattern", "expression", "groups", "group_names", "_re2", "_verdicts")

    def __init__(self, expression: str, *, captures: bool = False, pattern: str | None = None) -> None:
        encoded = _utf8(expression)
        compiled = _re2.RE2(encoded, _CAPTURE_OPTIONS if captures else _MATCH_OPTIONS)
        if not compiled.ok():
            raise _from_re2_error(compiled.error().decode("utf-8", "replace"), expression)
        _go_only_refusals(expression)
        self.pattern = expression if pattern is None else pattern
        self.expression = expression
        self._re2 = compiled
        self.groups: int = compiled.NumberOfCapturingGroups() if captures else 0
        # Names to group numbers; Go allows a name twice and Expand uses the first group that matched.
        names: dict[str, list[int]] = {}
        if captures:
            for name, index in sorted(compiled.NamedCapturingGroups(), key=lambda item: item[1]):
                names.setdefault(name.decode(), []).append(index)
        self.group_names = names
        self._verdicts: dict[str, bool] = {}

    def matches(self, text: str) -> bool:
        # Label values repeat (every update of an alert meets the same routes and silences again), and a
        # call into RE2 costs ~1 µs where a dict lookup costs 50 ns: recent short values keep their verdict.
        verdicts = self._verdicts
        hit = verdicts.get(text)
        if hit is not None:
            return hit
        try:
            data = text.encode()
        except UnicodeEncodeError:
            data = _utf8(text)
        hit = self._re2.Match(_UNANCHORED, data, 0, len(data))[0][0] >= 0
        if len(text) <= _VERDICT_VALUE_LENGTH:
            if len(verdicts) >= _VERDICTS_PER_REGEXP:
                verdicts.clear()
            verdicts[text] = hit
        return hit

    def submatches(self, text: str) -> list[str | None] | None:
        """The leftmost-first match's groups (0 = the whole match; None for a group that did not take
        part), or None without a match. Needs ``captures=True``."""
        data = _utf8(text)
        spans = self._re2.Match(_UNANCHORED, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        return [None if start < 0 else data[start:end].decode() for start, end in spans]

    def references(self, template: str) -> list[str]:
        """The group references (``$1``, ``${name}``) of an Expand template that name no group of this
        expression: a replacement that can only expand to nothing is a mistake worth refusing."""
        unknown = []
        for kind, value in _parse_template(template):
            if kind == "number" and not 0 <= int(value) <= self.groups:
                unknown.append(value)
            elif kind == "name" and value not in self.group_names:
                unknown.append(value)
        return unknown

    def expand(self, template: str, groups: list[str | None]) -> str:
        """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}`` are replaced by the
        group (empty when it did not match); ``$$`` is a dollar. A name is the longest run of letters,
        digits and underscores, so ``$1x`` means ``${1x}`` (write ``${1}x``)."""
        out = []
        for kind, value in _parse_template(template):
            if kind == "text":
                out.append(value)
            elif kind == "number":
                number = int(value)
                if number < len(groups):
                    out.append(groups[number] or "")
            else:
                for index in self.group_names.get(value, ()):
                    if index < len(groups) and groups[index] is not None:
                        out.append(groups[index] or "")
                        break
        return "".join(out)

    def __repr__(self) -> str:
        return f"GoRegexp({self.expression!r})"


class _LiteralSet(GoRegexp):
    """An anchored alternation of plain literals (``critical|warning``): set membership, exactly the
    verdict RE2 gives (no metacharacter, no flag, so no case folding or classes), without a call into
    RE2 per value. Compiled by RE2 all the same, so validation is RE2's."""

    __slots__ = ("_literals",)

    def __init__(self, pattern: str, literals: frozenset[str]) -> None:
        super().__init__("^(?:" + pattern + ")$", pattern=pattern)
        self._literals = literals

    def matches(self, text: str) -> bool:
        return text in self._literals


class _AnyLine(GoRegexp):
    """Anchored ``.*`` (or ``.+``): any value without a newline (and not empty)."""

    __slots__ = ("_non_empty",)

    def __init__(self, pattern: str, non_empty: bool) -> None:
        super().__init__("^(?:" + pattern + ")$", pattern=pattern)
        self._non_empty = non_empty

    def matches(self, text: str) -> bool:
        return "\n" not in text and (text != "" or not self._non_empty)


_METACHARACTERS = frozenset("\\.+*?()[]{}^$")


def _check_length(pattern: str) -> None:
    limit = _limit[0]
    if len(pattern) > limit:
        raise RegexError(f"regular expression is {len(pattern)} characters long, over the limit of {limit} "
                         "(setting max_regex_length, PIPELINE_MAX_REGEX_LENGTH)")


def compile_anchored(pattern: str) -> GoRegexp:
    """Go's ``regexp.Compile("^(?:" + pattern + ")$")`` as Alertmanager's matchers and Prometheus'
    relabel rules build it: the text is concatenated before parsing, so an unbalanced value such as
    ``a)|(b`` means ``^(?:a)|(b)$`` as in Go, and error messages quote the anchored expression."""
    _check_length(pattern)
    return _compile_anchored(pattern)


@functools.lru_cache(maxsize=4096)
def _compile_anchored(pattern: str) -> GoRegexp:
    if pattern in (".*", ".+"):
        return _AnyLine(pattern, non_empty=pattern == ".+")
    if not _METACHARACTERS.intersection(pattern):
        return _LiteralSet(pattern, frozenset(pattern.split("|")))
    return GoRegexp("^(?:" + pattern + ")$", pattern=pattern)


def compile_regexp(pattern: str, *, captures: bool = False, anchored: bool = False) -> GoRegexp:
    """Go's ``regexp.Compile(pattern)`` (``anchored``: of ``^(?:pattern)$``), with submatches when
    ``captures`` (relabel replacements). Not cached: for configuration loaded once."""
    _check_length(pattern)
    return GoRegexp("^(?:" + pattern + ")$" if anchored else pattern, captures=captures, pattern=pattern)


def _is_name_char(char: str) -> bool:
    # Go's unicode.IsLetter / unicode.IsDigit (Nd only) / '_'
    category = unicodedata.category(char)
    return category[0] == "L" or category == "Nd" or char == "_"


@functools.lru_cache(maxsize=1024)
def _parse_template(template: str) -> tuple[tuple[str, str], ...]:
    """Go's Regexp.expand/extract over a template: ("text", s), ("number", "1"), ("name", "host")."""
    parts: list[tuple[str, str]] = []
    rest = template
    while rest:
        before, dollar, after = rest.partition("$")
        if before:
            parts.append(("text", before))
        if not dollar:
            break
        rest = after
        if rest.startswith("$"):
            parts.append(("text", "$"))
            rest = rest[1:]
            continue
        brace = rest.startswith("{")
        body = rest[1:] if brace else rest
        length = 0
        while length < len(body) and _is_name_char(body[length]):
            length += 1
        if length == 0 or (brace and body[length : length + 1] != "}"):
            parts.append(("text", "$"))  # malformed: the dollar is literal text
            continue
        name = body[:length]
        rest = body[length + 1 :] if brace else body[length:]
        is_number = name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1)
        if is_number and len(name) > 9:  # Go's number parse stops at 1e8: then it is a name
            is_number = False
        parts.append(("number" if is_number else "name", name))
    return tuple(parts)
