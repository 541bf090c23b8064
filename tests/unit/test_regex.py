"""pipeline.regex: Go's regexp on RE2 — the length cap, Go's Expand, the shortcuts, odd input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.matchers import Matcher, MatcherError, MatchType
from pipeline.regex import (
    DEFAULT_MAX_PATTERN_LENGTH,
    GoRegexp,
    RegexError,
    compile_anchored,
    compile_regexp,
    max_pattern_length,
    set_max_pattern_length,
)


@pytest.fixture
def small_limit():
    set_max_pattern_length(16)
    yield 16
    set_max_pattern_length(DEFAULT_MAX_PATTERN_LENGTH)


def test_pattern_length_cap_names_the_matcher_and_the_setting(small_limit):
    Matcher("instance", MatchType.REGEX, "a" * 16)
    with pytest.raises(MatcherError) as caught:
        Matcher("instance", MatchType.REGEX, "a" * 17)
    message = str(caught.value)
    assert message.startswith("matcher instance=~…: regular expression is 17 characters long, over the limit of 16")
    assert "max_regex_length" in message and "PIPELINE_MAX_REGEX_LENGTH" in message
    Matcher("instance", MatchType.EQUAL, "a" * 1000)  # equality values are no regexes
    with pytest.raises(RegexError, match="over the limit of 16"):
        compile_regexp("b" * 17)


def test_the_cap_is_checked_before_the_cache(small_limit):
    set_max_pattern_length(100)
    compile_anchored("c" * 50)  # now cached
    set_max_pattern_length(16)
    with pytest.raises(RegexError):
        compile_anchored("c" * 50)


def test_settings_install_the_cap():
    from pipeline.settings import Settings

    try:
        Settings(max_regex_length=123)
        assert max_pattern_length() == 123
    finally:
        Settings()
    assert max_pattern_length() == DEFAULT_MAX_PATTERN_LENGTH


# Go's Regexp.ExpandString on `(?P<first>\w+) (\w+)` matching "hello world".
EXPAND = [
    ("$1", "hello"),
    ("${1}", "hello"),
    ("$2-$1", "world-hello"),
    ("${first}", "hello"),
    ("$first", "hello"),
    ("$first!", "hello!"),
    ("$1x", ""),          # the name is "1x": no such group
    ("${1}x", "hellox"),
    ("$$1", "$1"),
    ("$", "$"),           # malformed: a literal dollar
    ("${", "${"),
    ("${1", "${1"),
    ("${}", "${}"),
    ("$0", "hello world"),
    ("$01", ""),          # a leading zero makes it a name
    ("$9", ""),           # no such group: nothing
    ("$nope", ""),
    ("a$-b", "a$-b"),
    ("100%", "100%"),
]


@pytest.mark.parametrize(("template", "expected"), EXPAND)
def test_expand_is_gos(template, expected):
    regexp = compile_regexp(r"(?P<first>\w+) (\w+)", anchored=True, captures=True)
    groups = regexp.submatches("hello world")
    assert groups == ["hello world", "hello", "world"]
    assert regexp.expand(template, groups) == expected


def test_references_lists_groups_the_expression_lacks():
    regexp = compile_regexp(r"(?P<first>\w+) (\w+)", captures=True)
    assert regexp.references("$1 ${2} $first $0 $$3") == []
    assert regexp.references("$3 $1x ${other} $01") == ["3", "1x", "other", "01"]


def test_submatches_of_groups_that_did_not_take_part_and_of_multibyte_text():
    regexp = compile_regexp("(a)|(é+)", anchored=True, captures=True)
    assert regexp.submatches("éé") == ["éé", None, "éé"]
    assert regexp.submatches("b") is None


def test_leftmost_first_like_go():
    # Go (and RE2) prefer the first alternative that leads to a match, not the longest.
    regexp = compile_regexp("(a|ab)(c|bcd)(d*)", anchored=True, captures=True)
    assert regexp.submatches("abcd") == ["abcd", "a", "bcd", ""]


def test_lone_surrogates_do_not_crash_and_read_as_replacement_characters():
    m = Matcher("l", MatchType.REGEX, ".")
    assert m.matches("\ud800")
    assert Matcher("l", MatchType.REGEX, "a.b").matches("a\udfffb")
    assert compile_regexp("(.)", captures=True).submatches("\ud800") == ["\ufffd", "\ufffd"]


def test_too_large_a_program_is_refused_clearly():
    with pytest.raises(RegexError, match="expression too large"):
        compile_regexp(r"\pL{1000}")


def test_groups_nested_past_gos_tree_height_are_refused_as_go_does():
    # The boundaries measured against Alertmanager 0.25's filter parameter.
    compile_anchored("(" * 998 + ")" * 998)
    compile_anchored("(?:" * 999 + ")" * 999)  # non-capturing groups make no node in Go's tree
    compile_anchored("[(]" * 1300)  # parentheses in a class are literals
    with pytest.raises(RegexError, match="^error parsing regexp: expression nests too deeply: `"):
        compile_anchored("(" * 999 + ")" * 999)
    with pytest.raises(RegexError, match="nests too deeply"):
        compile_regexp("(?P<n>" + "(" * 998 + ")" * 999)


# The shortcuts (literal alternations, .*, .+) must say exactly what RE2 says.
_ALPHABET = "ab|\n é"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab é", max_size=4).flatmap(
    lambda first: st.lists(st.text(alphabet="ab é", max_size=4), max_size=3).map(lambda rest: "|".join([first, *rest]))),
    st.lists(st.text(alphabet=_ALPHABET, max_size=6), min_size=1, max_size=8))
def test_literal_alternations_agree_with_re2(pattern, values):
    shortcut = compile_anchored(pattern)
    assert type(shortcut).__name__ == "_LiteralSet"
    general = GoRegexp("^(?:" + pattern + ")$")
    for value in values + pattern.split("|"):
        assert shortcut.matches(value) == general.matches(value), (pattern, value)


@pytest.mark.parametrize("pattern", [".*", ".+"])
@pytest.mark.parametrize("value", ["", "x", "\n", "a\nb", "é", "\ud800", "abc "])
def test_any_line_shortcuts_agree_with_re2(pattern, value):
    shortcut = compile_anchored(pattern)
    assert type(shortcut).__name__ == "_AnyLine"
    assert shortcut.matches(value) == GoRegexp("^(?:" + pattern + ")$").matches(value)
