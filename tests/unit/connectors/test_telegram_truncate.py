"""connectors.sinks.telegram.truncate_html: within the limit, no cut tag or entity, open tags closed."""

import pytest

from connectors.sinks.telegram import truncate_html


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short", 10, "short"),
    ("<b>bold text here</b>", 12, "<b>bold…</b>"),
    ("plain &amp; more text", 10, "plain …"),
    ("ab <a href='x&y'>link</a>", 12, "ab …"),
    ("<i>a <b>b</b> c d e f g h</i>", 20, "<i>a <b>b</b> c…</i>"),
])
def test_cuts_whole_tags_and_entities(text, limit, expected):
    assert truncate_html(text, limit) == expected


@pytest.mark.parametrize("hostile", ["<a" * 3000, "<" * 6000, "&" * 6000, "<b>" * 2000, "<a <b <c" * 800])
def test_hostile_markup_stays_within_the_limit(hostile):
    out = truncate_html(hostile, 4096)
    assert len(out) <= 4096
    assert out.count("<") == out.count(">")  # no tag left cut open
