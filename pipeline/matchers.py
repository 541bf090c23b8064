"""Alertmanager label matchers (pkg/labels/matcher.go and pkg/labels/parse.go of Alertmanager 0.25).

A matcher is ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~``. Regex matchers are anchored
as ``^(?:value)$`` and a missing label matches as the empty string.

Regular expressions: Alertmanager compiles them with Go's ``regexp`` (RE2 syntax). Python's ``re`` differs
at the edges: RE2 has no backreferences, lookarounds, atomic groups, possessive quantifiers or
conditionals, but it has ``\\Q…\\E``, ``\\z``, POSIX classes ``[[:alpha:]]``, Unicode classes ``\\pL``,
the ungreedy flag ``(?U)``, flags that may appear anywhere (``a(?i)b``), ASCII-only ``\\d \\s \\w \\b``,
``$`` that matches only at the very end of the text, its own case folding (``(?i)k`` matches the
Kelvin sign) and ``{,n}`` as a literal. So a Go pattern is never handed to ``re`` as it is:
:func:`translate_go_regex` parses it with RE2's grammar and emits an equivalent Python pattern, and
rejects (with :class:`MatcherError`, in Go's words) every construct RE2 rejects — so a configuration
Alertmanager refuses is refused here as well. One RE2 feature is not supported: Unicode *script*
classes (``\\p{Greek}``); they are refused with a clear message rather than matched differently
(general categories such as ``\\pL`` or ``\\p{Lu}`` are supported). Unicode tables are Python's,
which may be a version ahead of Go's. And RE2 runs in linear time while ``re`` backtracks, so
pathological patterns are slower here.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "MatchType",
    "Matcher",
    "MatcherError",
    "Matchers",
    "go_quote",
    "parse_matcher",
    "parse_matchers",
    "translate_go_regex",
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
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.type, MatchType):
            raise MatcherError(f"unknown match type {self.type!r}")
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_regex", _compile_anchored(self.value))

    def matches(self, value: str) -> bool:
        """Whether the label value satisfies this matcher (pass ``""`` for a missing label)."""
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        hit = self._regex.search(value) is not None
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

# Go's \s is [\t\n\f\r ]; `$` without (?m) is the end of the text, i.e. Python's \Z.
_GO_WS = "[\t\n\f\r ]"
_MATCHER_RE = re.compile(
    rf"\A{_GO_WS}*([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_WS}*(=~|=|!=|!~){_GO_WS}*(.*?){_GO_WS}*\Z", re.DOTALL
)
# Go's strings.TrimSpace (unicode.IsSpace).
_GO_UNICODE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher as ``labels.ParseMatcher`` does: ``a="b"``, ``a=~"x|y"``, ``a!=b`` (unquoted
    values allowed; ``\\"``, ``\\n`` and ``\\\\`` are the escapes; a lone backslash is literal)."""
    found = _MATCHER_RE.match(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found.group(1), found.group(2), found.group(3)
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


# --------------------------------------------------------------------------------------------------
# Go RE2 syntax -> Python re


@functools.lru_cache(maxsize=4096)
def _compile_anchored(pattern: str) -> re.Pattern[str]:
    """Go's ``regexp.Compile("^(?:" + pattern + ")$")``, translated; use with ``.search``.

    The concatenated text is translated as a whole, exactly as Go compiles it, so even a value such
    as ``a)|(b`` means what it means in Alertmanager (``^(?:a)|(b)$``), and error messages quote the
    anchored expression as Go's do."""
    translated = translate_go_regex("^(?:" + pattern + ")$")
    try:
        return re.compile(translated)
    except re.error as exc:  # pragma: no cover - the translator should have caught it
        raise MatcherError(f"error parsing regexp: {exc}: `^(?:{pattern})$`") from None
    except RecursionError:  # pragma: no cover
        raise MatcherError(f"error parsing regexp: expression nests too deeply: `^(?:{pattern})$`") from None


def _err(code: str, fragment: str, hint: str = "") -> MatcherError:
    # Go's regexp/syntax Error.Error(): "error parsing regexp: <code>: `<fragment>`"
    return MatcherError(f"error parsing regexp: {code}: `{fragment}`" + (f" ({hint})" if hint else ""))


_MAX_REPEAT = 1000
_MAX_RUNE = 0x10FFFF

# Ranges of Go's Perl and POSIX classes (all ASCII).
_PERL_CLASSES: dict[str, list[tuple[int, int]]] = {
    "d": [(0x30, 0x39)],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
}
_POSIX_CLASSES: dict[str, list[tuple[int, int]]] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0x5F, 0x5F)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}


def _negate(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAX_RUNE:
        out.append((nxt, _MAX_RUNE))
    return out


def _normalize(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@functools.lru_cache(maxsize=1)
def _fold_orbits() -> dict[str, frozenset[str]]:
    """Each cased character's simple case-folding orbit (Go's unicode.SimpleFold cycle), e.g.
    k -> {k, K, U+212A KELVIN SIGN}, s -> {s, S, U+017F LONG S}, ß -> {ß, U+1E9E}. Built once, lazily."""

    def key(char: str) -> str:
        folded = char.casefold()
        if len(folded) == 1:
            return folded
        lowered = char.lower()
        return lowered if len(lowered) == 1 else char

    groups: dict[str, set[str]] = {}
    for code in range(0x1F000):
        char = chr(code)
        k = key(char)
        if k != char:
            groups.setdefault(k, {k}).add(char)
    orbits: dict[str, frozenset[str]] = {}
    for members in groups.values():
        orbit = frozenset(members)
        for char in orbit:
            orbits[char] = orbit
    return orbits


def _fold_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Go's appendFoldedRange: the ranges plus every case variant of the characters in them."""
    out = list(ranges)
    for char, orbit in _fold_orbits().items():
        code = ord(char)
        if any(lo <= code <= hi for lo, hi in ranges):
            out.extend((ord(c), ord(c)) for c in orbit)
    return out


def _group(ranges: list[tuple[int, int]], negated: bool, flags: _Flags) -> list[tuple[int, int]]:
    """Go's appendGroup for \\d-style and [:name:] classes: fold (under (?i)) first, then negate."""
    if flags.i:
        ranges = _fold_ranges(ranges)
    return _negate(ranges) if negated else list(ranges)


_GO_CATEGORIES = {
    "C": ("Cc", "Cf", "Co", "Cs"),  # Go's "Other" leaves out unassigned code points
    "L": ("Lu", "Ll", "Lt", "Lm", "Lo"),
    "M": ("Mn", "Mc", "Me"),
    "N": ("Nd", "Nl", "No"),
    "P": ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"),
    "S": ("Sm", "Sc", "Sk", "So"),
    "Z": ("Zs", "Zl", "Zp"),
}


@functools.lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Ranges of every two-letter Unicode general category (Python's Unicode data). Built once, lazily."""
    import unicodedata

    out: dict[str, list[tuple[int, int]]] = {}
    current, begin = None, 0
    for code in range(_MAX_RUNE + 2):
        category = unicodedata.category(chr(code)) if code <= _MAX_RUNE else None
        if category != current:
            if current is not None:
                out.setdefault(current, []).append((begin, code - 1))
            current, begin = category, code
    return out


def _unicode_category(name: str) -> list[tuple[int, int]] | None:
    """Ranges for a Go \\p{name}: "Any", a one-letter or a two-letter general category."""
    if name == "Any":
        return [(0, _MAX_RUNE)]
    table = _category_ranges()
    if name in _GO_CATEGORIES:
        return [r for part in _GO_CATEGORIES[name] for r in table.get(part, [])]
    if len(name) == 2 and name != "Cn" and name in table:
        return list(table[name])
    return None


def _class_char(code: int) -> str:
    char = chr(code)
    if char.isalnum() and code < 0x80:
        return char
    if code < 0x80 and (char.isprintable()) and char not in "\\]^-[&~|":
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _class_body(ranges: list[tuple[int, int]]) -> str:
    parts = []
    for lo, hi in ranges:
        parts.append(_class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}")
    return "".join(parts)


def _ranges_class(ranges: list[tuple[int, int]]) -> str:
    if not ranges:
        return "[^\\x00-\\U0010ffff]"
    return "[" + _class_body(ranges) + "]"


@dataclass
class _Node:
    max: int | None = None
    is_repeat: bool = False
    subs: list[_Node] = field(default_factory=list)


def _repeat_is_valid(node: _Node, n: int) -> bool:
    """Go's regexp/syntax repeatIsValid."""
    if node.is_repeat:
        m = node.max or 0
        if m == 0:
            return True
        if m > n:
            return False
        n //= m
    return all(_repeat_is_valid(sub, n) for sub in node.subs)


@dataclass
class _Flags:
    i: bool = False  # case-insensitive
    m: bool = False  # multi-line: ^ and $ at line boundaries
    s: bool = False  # . matches \n
    U: bool = False  # ungreedy: swap greedy and lazy


class _GoRegexTranslator:
    """A recursive-descent reading of Go's regexp/syntax (Perl flags) that emits Python ``re`` syntax.

    Every atom is emitted self-contained under the flags in force where it appears (``(?i:a)``,
    ``(?s:.)``, ``(?m:$)``), so Go's flag scoping (to the end of the enclosing group, across ``|``)
    never depends on Python's rules for inline flags.
    """

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.pos = 0
        self.out: list[str] = []

    # -- helpers
    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.p[i] if i < len(self.p) else ""

    def rest(self) -> str:
        return self.p[self.pos :]

    def translate(self) -> str:
        flags_stack = [_Flags()]
        open_at: list[int] = []  # index in self.out of each open group
        atom_start: int | None = None  # index in self.out where the last repeatable item begins
        atom_repeated = False  # that item already carries a repetition operator
        last_was_repeat = False  # the previous token was a repetition operator (Go's lastRepeat)
        # A shadow of Go's parse tree, only as deep as needed for its repeat-size check.
        tree: list[list[_Node]] = [[]]

        def emit_atom(text: str) -> None:
            nonlocal atom_start, atom_repeated, last_was_repeat
            atom_start = len(self.out)
            atom_repeated = False
            last_was_repeat = False
            self.out.append(text)
            tree[-1].append(_Node())

        def emit_repeat(op: str, lazy: bool, fragment: str, bounds: tuple[int, int | None] | None = None) -> None:
            nonlocal atom_repeated, last_was_repeat
            if last_was_repeat:
                raise _err("invalid nested repetition operator", self._last_repeat + fragment)
            if atom_start is None:
                raise _err("missing argument to repetition operator", fragment)
            node = _Node(subs=[tree[-1].pop()])
            if bounds is not None:
                lo, hi = bounds
                node.max = hi if hi is not None else lo
                node.is_repeat = True
                # Go refuses (a{500}){3} and the like: nested counts may not multiply past 1000.
                if (lo >= 2 or (hi is not None and hi >= 2)) and not _repeat_is_valid(node, _MAX_REPEAT):
                    raise _err("invalid repeat count", fragment)
            tree[-1].append(node)
            if atom_repeated:  # e.g. a*(?i)+ : Go repeats the repetition; Python needs a group
                self.out[atom_start:] = ["(?:" + "".join(self.out[atom_start:]) + ")"]
            if flags_stack[-1].U:
                lazy = not lazy
            self.out.append(op + ("?" if lazy else ""))
            self._last_repeat = fragment
            atom_repeated = True
            last_was_repeat = True

        while self.pos < len(self.p):
            c = self.p[self.pos]
            flags = flags_stack[-1]
            if c == "(":
                start = self.pos
                opened = len(self.out)
                if self.p.startswith("(?", self.pos):
                    if self._group_open(flags_stack, start) == "flags-only":
                        last_was_repeat = False
                        continue
                else:
                    self.pos += 1
                    flags_stack.append(_Flags(**vars(flags)))
                    self.out.append("(")
                open_at.append(opened)
                tree.append([])
                atom_start = None
                last_was_repeat = False
                continue
            if c == ")":
                if not open_at:
                    raise _err("unexpected )", self.p)
                flags_stack.pop()
                self.out.append(")")
                self.pos += 1
                atom_start = open_at.pop()
                children = tree.pop()
                tree[-1].append(_Node(subs=children))
                atom_repeated = False
                last_was_repeat = False
                continue
            if c == "|":
                self.out.append("|")
                self.pos += 1
                atom_start = None
                last_was_repeat = False
                continue
            if c in "*+?":
                op_start = self.pos
                self.pos += 1
                lazy = False
                if self.peek() == "?":
                    lazy = True
                    self.pos += 1
                emit_repeat(c, lazy, self.p[op_start : self.pos])
                continue
            if c == "{":
                rep = self._try_repeat()
                if rep is not None:
                    text, lo, hi, fragment = rep
                    if lo > _MAX_REPEAT or (hi is not None and (hi > _MAX_REPEAT or hi < lo)):
                        raise _err("invalid repeat count", fragment)
                    lazy = False
                    if self.peek() == "?":
                        lazy = True
                        self.pos += 1
                        fragment += "?"
                    emit_repeat(text, lazy, fragment, (lo, hi))
                    continue
                self.pos += 1  # not a valid repeat: a literal '{'
                emit_atom(self._literal("{", flags))
                continue
            if c == ".":
                self.pos += 1
                emit_atom("(?s:.)" if flags.s else "[^\\n]")
            elif c == "^":
                self.pos += 1
                emit_atom("(?m:^)" if flags.m else "(?:\\A)")
            elif c == "$":
                self.pos += 1
                emit_atom("(?m:$)" if flags.m else "(?:\\Z)")
            elif c == "[":
                emit_atom(self._class(flags))
            elif c == "\\":
                emit_atom(self._escape(flags))
            else:
                self.pos += 1
                emit_atom(self._literal(c, flags))
        if open_at:
            raise _err("missing closing )", self.p)
        return "".join(self.out)

    _last_repeat = ""

    def _literal(self, char: str, flags: _Flags) -> str:
        if flags.i:
            orbit = _fold_orbits().get(char)
            if orbit is not None:  # Go matches the character's whole case-folding orbit
                return "[" + "".join(_class_char(ord(c)) for c in sorted(orbit)) + "]"
        return re.escape(char) if ord(char) < 0x80 else _class_char(ord(char))

    def _group_open(self, flags_stack: list[_Flags], start: int) -> str:
        p = self.p
        after = p[start + 2 :]
        if after.startswith("P<"):
            end = after.find(">")
            if end < 0:
                raise _err("invalid named capture", p[start:])
            name = after[2:end]
            if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise _err("invalid named capture", p[start : start + 2 + end + 1])
            self.pos = start + 2 + end + 1
            flags_stack.append(_Flags(**vars(flags_stack[-1])))
            # Names never matter for matching, and Go (unlike re) allows a name twice: a plain group.
            self.out.append("(")
            return "group"
        if after.startswith("P=") or after.startswith("P>"):
            raise _err("invalid or unsupported Perl syntax", p[start : start + 4], "backreferences are not supported")
        # Flags: (?flags) or (?flags:...)
        flags = _Flags(**vars(flags_stack[-1]))
        sign = 1
        saw_flag = False
        i = start + 2
        while i < len(p):
            c = p[i]
            if c in "imsU":
                setattr(flags, c, sign > 0)
                saw_flag = True
            elif c == "-":
                if sign < 0:
                    break
                sign = -1
                saw_flag = False
            elif c in ":)":
                if sign < 0 and not saw_flag:
                    break
                self.pos = i + 1
                if c == ":":
                    flags_stack.append(flags)
                    self.out.append("(?:")
                    return "group"
                flags_stack[-1] = flags
                return "flags-only"
            else:
                break
            i += 1
        fragment = p[start : i + 1]
        hint = ""
        if fragment.startswith(("(?=", "(?!", "(?<=", "(?<!")):
            hint = "lookaround assertions are not supported by Go's RE2"
        elif fragment.startswith("(?<"):
            hint = "named groups are written (?P<name>...)"
        elif fragment.startswith("(?>"):
            hint = "atomic groups are not supported by Go's RE2"
        elif fragment.startswith("(?("):
            hint = "conditionals are not supported by Go's RE2"
        elif fragment.startswith("(?#"):
            hint = "comments are not supported by Go's RE2"
        raise _err("invalid or unsupported Perl syntax", fragment, hint)

    def _try_repeat(self) -> tuple[str, int, int | None, str] | None:
        m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.p, self.pos)
        if m is None:
            return None
        lo_text, comma, hi_text = m.group(1), m.group(2), m.group(3)
        if (len(lo_text) > 1 and lo_text[0] == "0") or (hi_text and len(hi_text) > 1 and hi_text[0] == "0"):
            return None  # Go's parseInt refuses leading zeros: then '{' is a literal
        lo = int(lo_text)
        if comma is None:
            hi: int | None = lo
            text = f"{{{lo}}}"
        elif hi_text == "":
            hi = None
            text = f"{{{lo},}}"
        else:
            hi = int(hi_text)
            text = f"{{{lo},{hi}}}"
        self.pos = m.end()
        # Go reports counts above 1000 (and hi < lo) as invalid; very long digit strings too.
        if len(lo_text) > 8 or (hi_text and len(hi_text) > 8):
            lo = _MAX_REPEAT + 1
        return text, lo, hi, m.group(0)

    # -- escapes
    def _escape(self, flags: _Flags) -> str:
        start = self.pos
        self.pos += 1
        if self.pos >= len(self.p):
            raise _err("trailing backslash at end of expression", "")
        c = self.p[self.pos]
        self.pos += 1
        if c == "Q":
            end = self.p.find("\\E", self.pos)
            literal = self.p[self.pos :] if end < 0 else self.p[self.pos : end]
            self.pos = len(self.p) if end < 0 else end + 2
            if not literal:
                return "(?:)"
            return "(?:" + "".join(self._literal(ch, flags) for ch in literal) + ")"
        if c == "A":
            return "(?:\\A)"
        if c == "z":
            return "(?:\\Z)"
        if c == "b":
            return "(?a:\\b)"
        if c == "B":
            return "(?a:(?!\\b))"  # Python's \B never matches the empty string; Go's does
        if c in "dswDSW":
            return _ranges_class(_normalize(_group(_PERL_CLASSES[c.lower()], c.isupper(), flags)))
        if c in "pP":
            self.pos = start
            return _ranges_class(_normalize(self._unicode_class(flags)))
        code = self._single_char_escape(c, start)
        return self._literal(chr(code), flags)

    def _single_char_escape(self, c: str, start: int) -> int:
        """Escapes that stand for one character (shared with character classes)."""
        if c in "1234567":
            if self.peek() and self.peek() in "01234567":
                c2 = self.peek()
                self.pos += 1
                digits = c + c2
                if self.peek() and self.peek() in "01234567":
                    digits += self.peek()
                    self.pos += 1
                return int(digits, 8)
            raise _err("invalid escape sequence", self.p[start : self.pos], "backreferences are not supported by Go's RE2")
        if c == "0":
            digits = ""
            while len(digits) < 2 and self.peek() and self.peek() in "01234567":
                digits += self.peek()
                self.pos += 1
            return int("0" + digits, 8)
        if c == "x":
            if self.peek() == "{":
                found = re.compile(r"[0-9A-Fa-f]*").match(self.p, self.pos + 1)
                assert found is not None
                hexdigits, end = found.group(0), found.end()
                if not hexdigits or end >= len(self.p) or self.p[end] != "}":
                    # Go quotes the escape up to and including the first offending character.
                    raise _err("invalid escape sequence", self.p[start : end + 1])
                self.pos = end + 1
                value = int(hexdigits, 16)
                if value > _MAX_RUNE:
                    raise _err("invalid escape sequence", self.p[start : self.pos])
                return value
            hexdigits = self.p[self.pos : self.pos + 2]
            if len(hexdigits) < 2 or not re.fullmatch(r"[0-9A-Fa-f]{2}", hexdigits):
                raise _err("invalid escape sequence", self.p[start : self.pos + len(hexdigits)])
            self.pos += 2
            return int(hexdigits, 16)
        simple = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
        if c in simple:
            return simple[c]
        if ord(c) < 0x80 and not c.isalnum():
            return ord(c)
        raise _err("invalid escape sequence", self.p[start : self.pos])

    # -- character classes
    def _class(self, flags: _Flags) -> str:
        start = self.pos
        self.pos += 1
        negated = False
        if self.peek() == "^":
            negated = True
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.pos >= len(self.p):
                raise _err("missing closing ]", self.p[start:])
            c = self.p[self.pos]
            if c == "]" and not first:
                self.pos += 1
                break
            first = False
            # POSIX class [:alpha:] / [:^alpha:]
            if c == "[" and self.peek(1) == ":":
                end = self.p.find(":]", self.pos + 2)
                if end >= 0:
                    name = self.p[self.pos + 2 : end]
                    neg = name.startswith("^")
                    if neg:
                        name = name[1:]
                    if name not in _POSIX_CLASSES:
                        raise _err("invalid character class range", self.p[self.pos : end + 2])
                    ranges.extend(_group(_POSIX_CLASSES[name], neg, flags))
                    self.pos = end + 2
                    continue
            if c == "\\":
                nxt = self.peek(1)
                if nxt and nxt in "dswDSW":
                    ranges.extend(_group(_PERL_CLASSES[nxt.lower()], nxt.isupper(), flags))
                    self.pos += 2
                    continue
                if nxt in ("p", "P"):
                    ranges.extend(self._unicode_class(flags))
                    continue
            range_start = self.pos
            lo = self._class_char()
            hi = lo
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                hi = self._class_char()
                if hi < lo:
                    raise _err("invalid character class range", self.p[range_start : self.pos])
            ranges.extend(_fold_ranges([(lo, hi)]) if flags.i else [(lo, hi)])
        # As in Go: items are case-folded one by one (a negated \W or [:^alpha:] folded before its own
        # negation), then the whole class is negated. The result is explicit: no Python flag needed.
        return _ranges_class(_negate(ranges) if negated else _normalize(ranges))

    def _unicode_class(self, flags: _Flags) -> list[tuple[int, int]]:
        """``\\pL``, ``\\p{Lu}``, ``\\PL``, ``\\p{^L}``, ``\\p{Any}`` at self.pos (Go's parseUnicodeClass)."""
        start = self.pos
        negated = self.p[self.pos + 1] == "P"
        self.pos += 2
        if self.pos >= len(self.p):
            raise _err("invalid character class range", self.p[start:])
        if self.p[self.pos] == "{":
            end = self.p.find("}", self.pos)
            if end < 0:
                raise _err("invalid character class range", self.p[start:])
            name = self.p[self.pos + 1 : end]
            self.pos = end + 1
        else:
            name = self.p[self.pos]
            self.pos += 1
        if name.startswith("^"):
            negated = not negated
            name = name[1:]
        ranges = _unicode_category(name)
        if ranges is None:
            raise _err(
                "invalid character class range",
                self.p[start : self.pos],
                "Unicode scripts are not supported by this implementation, only general categories"
                if name[:1].isupper() and len(name) > 2 else "",
            )
        return _group(ranges, negated, flags)

    def _class_char(self) -> int:
        c = self.p[self.pos]
        if c == "\\":
            start = self.pos
            self.pos += 1
            if self.pos >= len(self.p):
                raise _err("trailing backslash at end of expression", "")
            e = self.p[self.pos]
            self.pos += 1
            return self._single_char_escape(e, start)
        self.pos += 1
        return ord(c)


def translate_go_regex(pattern: str) -> str:
    """Translate a Go (RE2) regular expression into an equivalent Python ``re`` pattern.

    Raises :class:`MatcherError` for anything Go's ``regexp.Compile`` rejects, and for the few RE2
    features ``re`` cannot express (Unicode classes ``\\p{...}``)."""
    return _GoRegexTranslator(pattern).translate()
