"""Matchers against Alertmanager 0.25's pkg/labels (parse_test.go cases, matcher.go behaviour) and
Go's RE2 syntax (what regexp.Compile accepts and refuses)."""

from __future__ import annotations

import pytest

from pipeline.matchers import (
    Matcher,
    MatcherError,
    Matchers,
    MatchType,
    go_quote,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX

# pkg/labels/parse_test.go TestMatchers (valid inputs).
VALID = [
    ('{foo="bar"}', [("foo", EQ, "bar")]),
    ('{foo=~"bar.*"}', [("foo", RE, "bar.*")]),
    ('{foo!="bar"}', [("foo", NE, "bar")]),
    ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", EQ, "bar"), ("baz", NRE, "quux.*")]),
    ('{foo="bar",baz!~".*quux", derp="wat"}', [("foo", EQ, "bar"), ("baz", NRE, ".*quux"), ("derp", EQ, "wat")]),
    ('{foo="bar", baz!="quux", derp="wat"}', [("foo", EQ, "bar"), ("baz", NE, "quux"), ("derp", EQ, "wat")]),
    ('{foo="bar", baz!~".*quux.*", derp="wat"}', [("foo", EQ, "bar"), ("baz", NRE, ".*quux.*"), ("derp", EQ, "wat")]),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", EQ, "bar"), ("instance", RE, "some-api.*")]),
    ('{foo=""}', [("foo", EQ, "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
     [("quote", EQ, 'She said: "Hi, ladies! That\'s gender-neutral…"')]),
    ('statuscode=~"5.."', [("statuscode", RE, "5..")]),
    ("tricky=~~~", [("tricky", RE, "~~")]),
    ('trickier==\\\\=\\=\\"', [("trickier", EQ, '=\\=\\="')]),
    ('contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
     [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")]),
    # 0.25 accepts an empty unquoted value (the "matcher value is not present" error is newer).
    ("job=", [("job", EQ, "")]),
    ("", []),
    ("{}", []),
    ("a=b,", [("a", EQ, "b")]),
    ('a="x\\ny"', [("a", EQ, "x\ny")]),
    ('a="tab\\tstays"', [("a", EQ, "tab\\tstays")]),  # a spurious escape keeps its backslash
    ("a=ends\\", [("a", EQ, "ends\\")]),
    ("colon:name=1", [("colon:name", EQ, "1")]),  # the parser's name pattern allows ':'
    ('a = " spaced "', [("a", EQ, " spaced ")]),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_matchers_valid(text, expected):
    assert parse_matchers(text) == Matchers(Matcher(n, t, v) for n, t, v in expected)


# pkg/labels/parse_test.go TestMatchers (invalid inputs) and the exact messages of Go.
INVALID = [
    ('job="value', 'matcher value contains unescaped double quote: "value'),
    ('job=value"', 'matcher value contains unescaped double quote: value"'),
    ('trickier==\\\\=\\=\\""', 'matcher value contains unescaped double quote: =\\\\=\\=\\""'),
    ('contains_unescaped_quote = foo"bar', 'matcher value contains unescaped double quote: foo"bar'),
    ('{invalid-name = "valid label"}', 'bad matcher format: invalid-name = "valid label"'),
    ('{foo=~"invalid[regexp"}', "error parsing regexp: missing closing ]: `[regexp)$`"),
    ('"{foo=\\"bar"}', 'bad matcher format: "{foo=\\"bar"'),
    ('"foo=\\"bar"', 'bad matcher format: "foo=\\"bar"'),
    ('"foo=\\"bar\\""', 'bad matcher format: "foo=\\"bar\\""'),
    ('"foo=\\"bar\\"', 'bad matcher format: "foo=\\"bar\\"'),
    ('"{foo=\\"bar\\"}"', 'bad matcher format: "{foo=\\"bar\\"}"'),
    ('"foo="bar""', 'bad matcher format: "foo="bar""'),
    ("a=b,,c=d", "bad matcher format: "),
    ("{{a=b}}", "bad matcher format: {a=b}"),
    ("a", "bad matcher format: a"),
    ("1a=b", "bad matcher format: 1a=b"),
    ('a="', 'matcher value contains unescaped double quote: "'),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_matchers_invalid(text, message):
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert str(caught.value) == message


def test_parse_matcher_single():
    assert parse_matcher('a=~"x|y"') == Matcher("a", RE, "x|y")
    assert parse_matcher("a!=b") == Matcher("a", NE, "b")
    assert parse_matcher("a=b,c=d") == Matcher("a", EQ, "b,c=d")  # one matcher: no splitting here


# -- String() ---------------------------------------------------------------------------------------


def test_matcher_string_is_go_percent_q():
    assert str(Matcher("a", EQ, "b")) == 'a="b"'
    assert str(Matcher("a", RE, "^(?:x|y)$")) == 'a=~"^(?:x|y)$"'
    assert str(Matcher("a", NE, 'q"\\')) == 'a!="q\\"\\\\"'
    assert str(Matcher("a", NRE, "\n\t\x00\x7f")) == 'a!~"\\n\\t\\x00\\x7f"'
    assert str(Matcher("a", EQ, "é✓\u200b\U0001F600")) == 'a="é✓\\u200b\U0001F600"'


def test_matchers_string_separator_is_a_bare_comma():
    ms = parse_matchers('{owner="team-A", level!="critical"}')
    assert str(ms) == '{owner="team-A",level!="critical"}'
    assert str(ms.sorted()) == '{level!="critical",owner="team-A"}'
    assert str(Matchers()) == "{}"


def test_sorted_orders_by_name_value_then_type():
    ms = Matchers([Matcher("b", EQ, "1"), Matcher("a", NRE, "1"), Matcher("a", EQ, "1"), Matcher("a", EQ, "0")])
    assert [str(m) for m in ms.sorted()] == ['a="0"', 'a="1"', 'a!~"1"', 'b="1"']


def test_go_quote():
    assert go_quote("") == '""'
    assert go_quote("\a\b\f\v\r") == '"\\a\\b\\f\\v\\r"'
    assert go_quote("\x1b") == '"\\x1b"'
    assert go_quote("\u00a0") == '"\\u00a0"'  # not printable in Go either


# -- matching ------------------------------------------------------------------------------------------


def test_matching_semantics():
    labels = {"env": "prod", "team": "a"}
    assert parse_matchers('env="prod"').matches(labels)
    assert not parse_matchers('env="prod", team!="a"').matches(labels)
    assert parse_matchers('missing=""').matches(labels)  # a missing label is ""
    assert parse_matchers('missing!~".+"').matches(labels)
    assert not parse_matchers('missing=~".+"').matches(labels)
    assert parse_matchers("").matches(labels)


def test_regex_is_anchored():
    m = parse_matcher('a=~"b"')
    assert m.matches("b") and not m.matches("ab") and not m.matches("bc")
    assert not m.matches("b\n")  # Go's `$` is the end of the text, not before a final newline
    assert parse_matcher('a!~"b"').matches("ab")


def test_regex_anchoring_is_textual_like_go():
    # Go compiles "^(?:" + v + ")$" as text, so an unbalanced value changes the anchoring.
    m = parse_matcher('a=~"x)|(y"')
    assert m.matches("x-anything") and m.matches("anything-y") and not m.matches("z")


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("(?i)abc", ["ABC", "aBc"], ["abd"]),
        ("a(?i)b|c", ["aB", "C", "c"], ["AB"]),
        ("(?i:a)b", ["Ab"], ["AB"]),
        ("(?s).", ["\n"], []),
        (".", ["x"], ["\n"]),
        ("(?m)a$\nb", ["a\nb"], []),
        (r"\d+", ["123"], ["١٢٣", "12a"]),  # ASCII digits only, as in Go
        (r"\w+", ["a_1"], ["é"]),
        (r"\s", [" ", "\t"], ["\v", "\u00a0"]),
        (r"[[:alpha:]]+", ["abc"], ["a1"]),
        (r"[[:^digit:]]", ["a"], ["1"]),
        (r"\Qa.b\E", ["a.b"], ["axb"]),
        (r"a\z", ["a"], []),
        (r"\x41\x{42}\101", ["ABA"], []),
        ("x{,3}", ["x{,3}"], ["xxx"]),  # not a repetition in Go
        ("x{01}", ["x{01}"], ["x"]),
        ("(?U)a+", ["aaa"], []),
        ("[^a]", ["b", "\n"], ["a"]),
        ("(?i)[^a]", ["b"], ["a", "A"]),
        ("[]a]", ["]", "a"], ["b"]),
        ("a|", ["a", ""], ["b"]),
        ("(?P<n>x)(?P<n>y)", ["xy"], []),  # duplicate names are fine in Go
        (r"\bfoo\b", ["foo"], []),
        ("^$", [""], ["a"]),
        ("a*(?i)+", ["aaa", ""], ["b"]),
        ("(?i)k", ["K", "k", "\u212a"], ["x"]),  # the Kelvin sign folds to k in Go
        ("(?i)[\\W]", ["-"], ["s", "k", "\u017f"]),  # folded before negation, as in Go
        ("(?i)\\w", ["\u017f", "\u212a"], ["-"]),
        ("(?i)ß", ["\u1e9e"], ["SS"]),
        (r"\B", [""], []),  # Python's \B alone never matches ""; Go's does
    ],
)
def test_go_regex_semantics(pattern, yes, no):
    m = Matcher("l", RE, pattern)
    for value in yes:
        assert m.matches(value), (pattern, value)
    for value in no:
        assert not m.matches(value), (pattern, value)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(c", "error parsing regexp: missing closing ): `^(?:(c)$`"),
        ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
        ("x{2}{3}", "error parsing regexp: invalid nested repetition operator: `{2}{3}`"),
        (r"\1", "error parsing regexp: invalid escape sequence: `\\1`"),
        (r"\8", "error parsing regexp: invalid escape sequence: `\\8`"),
        (r"\e", "error parsing regexp: invalid escape sequence: `\\e`"),
        (r"\Z", "error parsing regexp: invalid escape sequence: `\\Z`"),
        ("(?=x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
        ("(?!x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"),
        ("(?<=x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ("(?<n>x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ("(?>x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?>`"),
        ("(?P=n)", "error parsing regexp: invalid or unsupported Perl syntax: `(?P`"),  # amtool 0.25's text
        ("x{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
        ("(a{500}){3}", "error parsing regexp: invalid repeat count: `{3}`"),
        ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
        ("[[:foo:]]", "error parsing regexp: invalid character class range: `[:foo:]`"),
        ("*", "error parsing regexp: missing argument to repetition operator: `*`"),
        ("a++", "error parsing regexp: invalid nested repetition operator: `++`"),
    ],
)
def test_regexes_go_refuses(pattern, message):
    with pytest.raises(MatcherError) as caught:
        Matcher("l", RE, pattern)
    assert str(caught.value).startswith(message)


def test_unicode_scripts_and_categories():
    greek = Matcher("l", RE, r"\p{Greek}+")
    assert greek.matches("αβγ") and not greek.matches("abc")
    assert parse_matcher(r'a=~"[\p{Greek}x]"').matches("x")
    with pytest.raises(MatcherError, match="invalid character class range"):
        Matcher("l", RE, r"\p{Cn}")  # Go has no Cn either
    letters = Matcher("l", RE, r"\pL+")
    assert letters.matches("abcé") and not letters.matches("a1")
    assert Matcher("l", RE, r"\p{^L}").matches("1") and Matcher("l", RE, r"\PL").matches("1")
    assert Matcher("l", RE, r"[\p{Nd}x]").matches("٣")
    assert Matcher("l", RE, r"(?i)\p{Lu}").matches("a")  # folded, as in Go


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        # C++ RE2 accepts these; Go 1.19 (Alertmanager 0.25) does not, and neither do we.
        (r"a\C", "error parsing regexp: invalid escape sequence: `\\C`"),
        ("(?<n>x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ("(?P<é>x)", "error parsing regexp: invalid named capture: `(?P<é>`"),
    ],
)
def test_what_go_refuses_and_cpp_re2_accepts(pattern, message):
    with pytest.raises(MatcherError) as caught:
        Matcher("l", RE, pattern)
    assert str(caught.value) == message


@pytest.mark.parametrize("pattern", [r"[\C]", r"\Q\C\E", r"[(?<]", r"\(?<", r"[[:alpha:](?<]"])
def test_go_only_refusals_look_at_syntax_not_text(pattern):
    if pattern == r"[\C]":
        with pytest.raises(MatcherError, match="invalid escape sequence"):
            Matcher("l", RE, pattern)
    else:
        Matcher("l", RE, pattern)  # literal text, not the constructs


def test_invalid_regex_raises_from_parse_and_constructor():
    with pytest.raises(MatcherError):
        parse_matcher('a=~"(?=x)"')
    with pytest.raises(MatcherError):
        Matcher("a", NRE, "(")
    Matcher("a", EQ, "(")  # equality values are not regexes


def test_matcher_is_hashable_and_frozen():
    m = Matcher("a", RE, "x")
    assert hash(m) == hash(Matcher("a", RE, "x"))
    with pytest.raises(AttributeError):
        m.value = "y"  # type: ignore[misc]
    assert m == Matcher("a", RE, "x") and m != Matcher("a", NRE, "x")


