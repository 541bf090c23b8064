"""The route tree against Alertmanager 0.25's dispatch/route_test.go (same YAML, same expectations)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.amconfig import parse_config, routes_test
from pipeline.routing import (
    DEFAULT_ROUTE_OPTS,
    Route,
    RouteOpts,
    build_route_tree,
    group_key,
    group_labels,
    label_set_string,
)

RECEIVERS = """
receivers:
- name: notify-def
- name: notify-A
- name: notify-testing
- name: notify-productionA
- name: notify-productionB
- name: notify-BC
"""


def tree_of(route_yaml: str) -> Route:
    """The route YAML of a Go test (a bare config.Route) inside a whole configuration."""
    indented = "\n".join("  " + line for line in route_yaml.strip("\n").splitlines())
    return parse_config("route:\n" + indented + "\n" + RECEIVERS, "route_test.yml").routing_tree()


ROUTE_MATCH_YAML = """
receiver: 'notify-def'

routes:
- match:
    owner: 'team-A'

  receiver: 'notify-A'

  routes:
  - match:
      env: 'testing'

    receiver: 'notify-testing'
    group_by: [...]

  - match:
      env: "production"

    receiver: 'notify-productionA'
    group_wait: 1m

    continue: true

  - match_re:
      env: "produ.*"
      job: ".*"

    receiver: 'notify-productionB'
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: ['job']

- match_re:
    owner: 'team-(B|C)'

  group_by: ['foo', 'bar']
  group_wait: 2m
  receiver: 'notify-BC'

- match:
    group_by: 'role'
  group_by: ['role']

  routes:
  - match:
      env: 'testing'
    receiver: 'notify-testing'
    routes:
    - match:
        wait: 'long'
      group_wait: 2m
"""

DEF = DEFAULT_ROUTE_OPTS


def opts(receiver, group_by=(), group_by_all=False, group_wait=DEF.group_wait, group_interval=DEF.group_interval,
         repeat_interval=DEF.repeat_interval):
    return (receiver, frozenset(group_by), group_by_all, group_wait, group_interval, repeat_interval)


def observed(route: Route):
    o = route.opts
    return (o.receiver, o.group_by, o.group_by_all, o.group_wait, o.group_interval, o.repeat_interval)


ROUTE_MATCH_CASES = [
    ({"owner": "team-A"}, [opts("notify-A")], ['{}/{owner="team-A"}']),
    ({"owner": "team-A", "env": "unset"}, [opts("notify-A")], ['{}/{owner="team-A"}']),
    ({"owner": "team-C"}, [opts("notify-BC", ("foo", "bar"), group_wait=timedelta(minutes=2))],
     ['{}/{owner=~"^(?:team-(B|C))$"}']),
    ({"owner": "team-A", "env": "testing"}, [opts("notify-testing", group_by_all=True)],
     ['{}/{owner="team-A"}/{env="testing"}']),
    ({"owner": "team-A", "env": "production"},
     [opts("notify-productionA", group_wait=timedelta(minutes=1)),
      opts("notify-productionB", ("job",), group_wait=timedelta(seconds=30), group_interval=timedelta(minutes=5),
           repeat_interval=timedelta(hours=1))],
     ['{}/{owner="team-A"}/{env="production"}', '{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}']),
    ({"group_by": "role"}, [opts("notify-def", ("role",))], ['{}/{group_by="role"}']),
    ({"env": "testing", "group_by": "role"}, [opts("notify-testing", ("role",))],
     ['{}/{group_by="role"}/{env="testing"}']),
    ({"env": "testing", "group_by": "role", "wait": "long"},
     [opts("notify-testing", ("role",), group_wait=timedelta(minutes=2))],
     ['{}/{group_by="role"}/{env="testing"}/{wait="long"}']),
]


@pytest.mark.parametrize(("labels", "expected_opts", "expected_keys"), ROUTE_MATCH_CASES)
def test_route_match(labels, expected_opts, expected_keys):
    matches = tree_of(ROUTE_MATCH_YAML).match(labels)
    assert [observed(r) for r in matches] == expected_opts
    assert [r.key() for r in matches] == expected_keys


def test_route_walk():
    assert [r.receiver for r in tree_of(ROUTE_MATCH_YAML).walk()] == [
        "notify-def", "notify-A", "notify-testing", "notify-productionA", "notify-productionB", "notify-BC",
        "notify-def", "notify-testing", "notify-testing",
    ]


def test_inherit_parent_group_by_all():
    tree = tree_of("""
receiver: notify-def
routes:
- match:
    env: 'parent'
  group_by: ['...']

  routes:
  - match:
      env: 'child1'

  - match:
      env: 'child2'
    group_by: ['foo']
""")
    parent = tree.routes[0]
    child1, child2 = parent.routes
    assert parent.opts.group_by_all
    assert child1.opts.group_by_all
    assert not child2.opts.group_by_all
    assert child2.opts.group_by == frozenset({"foo"})


ROUTE_MATCHERS_YAML = """
receiver: 'notify-def'

routes:
- matchers: ['{owner="team-A"}', '{level!="critical"}']

  receiver: 'notify-A'

  routes:
  - matchers: ['{env="testing"}', '{baz!~".*quux"}']

    receiver: 'notify-testing'
    group_by: [...]

  - matchers: ['{env="production"}']

    receiver: 'notify-productionA'
    group_wait: 1m

    continue: true

  - matchers: [ env=~"produ.*", job=~".*"]

    receiver: 'notify-productionB'
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: ['job']


- matchers: [owner=~"team-(B|C)"]

  group_by: ['foo', 'bar']
  group_wait: 2m
  receiver: 'notify-BC'

- matchers: [group_by="role"]
  group_by: ['role']

  routes:
  - matchers: ['{env="testing"}']
    receiver: 'notify-testing'
    routes:
    - matchers: [wait="long"]
      group_wait: 2m
"""

ROUTE_MATCHERS_KEYS = [
    ({"owner": "team-A"}, ['{}/{level!="critical",owner="team-A"}']),
    ({"owner": "team-A", "env": "unset"}, ['{}/{level!="critical",owner="team-A"}']),
    ({"owner": "team-C"}, ['{}/{owner=~"team-(B|C)"}']),
    ({"owner": "team-A", "env": "testing"}, ['{}/{level!="critical",owner="team-A"}/{baz!~".*quux",env="testing"}']),
    ({"owner": "team-A", "env": "production"},
     ['{}/{level!="critical",owner="team-A"}/{env="production"}',
      '{}/{level!="critical",owner="team-A"}/{env=~"produ.*",job=~".*"}']),
    ({"group_by": "role"}, ['{}/{group_by="role"}']),
    ({"env": "testing", "group_by": "role"}, ['{}/{group_by="role"}/{env="testing"}']),
    ({"env": "testing", "group_by": "role", "wait": "long"}, ['{}/{group_by="role"}/{env="testing"}/{wait="long"}']),
]


@pytest.mark.parametrize(("labels", "expected_keys"), ROUTE_MATCHERS_KEYS)
def test_route_matchers(labels, expected_keys):
    """TestRouteMatchers: `matchers:` values are stored as written (not anchored) and sorted by name."""
    matches = tree_of(ROUTE_MATCHERS_YAML).match(labels)
    assert [r.key() for r in matches] == expected_keys
    # Same receivers and options as TestRouteMatch.
    old = tree_of(ROUTE_MATCH_YAML).match(labels)
    assert [observed(r) for r in matches] == [observed(r) for r in old]


def test_route_matchers_and_match_mixed():
    """TestRouteMatchersAndMatch: match_re stays anchored next to matchers."""
    tree = tree_of(ROUTE_MATCHERS_YAML.replace("- matchers: [owner=~\"team-(B|C)\"]", "- match_re:\n    owner: 'team-(B|C)'"))
    assert [r.key() for r in tree.match({"owner": "team-C"})] == ['{}/{owner=~"^(?:team-(B|C))$"}']


# -- group keys and labels --------------------------------------------------------------------------


def test_group_key_of_root_with_group_by():
    tree = tree_of("receiver: notify-def\ngroup_by: [alertname]")
    (route,) = tree.match({"alertname": "test", "instance": "x"})
    assert group_key(route, {"alertname": "test", "instance": "x"}) == '{}:{alertname="test"}'


def test_group_key_groups_by_all_labels_with_dots():
    tree = tree_of(ROUTE_MATCH_YAML)
    labels = {"owner": "team-A", "env": "testing", "z": 'q"uote'}
    (route,) = tree.match(labels)
    assert group_labels(route, labels) == labels
    assert group_key(route, labels) == (
        '{}/{owner="team-A"}/{env="testing"}:{env="testing", owner="team-A", z="q\\"uote"}'
    )


def test_group_key_without_group_by_is_empty_label_set():
    tree = tree_of(ROUTE_MATCH_YAML)
    (route,) = tree.match({"owner": "team-A"})
    assert group_key(route, {"owner": "team-A"}) == '{}/{owner="team-A"}:{}'


def test_group_labels_skip_missing_labels():
    tree = tree_of(ROUTE_MATCH_YAML)
    (route,) = tree.match({"owner": "team-B", "foo": "1"})
    assert group_labels(route, {"owner": "team-B", "foo": "1"}) == {"foo": "1"}


def test_label_set_string_sorts_formatted_pairs_like_go():
    # Go sorts `name="value"` strings: "a1=..." < "a=..." because '1' < '='.
    assert label_set_string({"a": "x", "a1": "y", "b": "z"}) == '{a1="y", a="x", b="z"}'
    assert label_set_string({}) == "{}"
    assert label_set_string({"a": "line\nbreak\ttab\x01é"}) == '{a="line\\nbreak\\ttab\\x01é"}'


# -- inheritance --------------------------------------------------------------------------------------


def test_inheritance_of_options_and_not_of_continue_or_intervals():
    config = parse_config("""
route:
  receiver: root
  group_by: [a]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  routes:
  - matchers: [x="1"]
    continue: true
    mute_time_intervals: [night]
    routes:
    - matchers: [y="1"]
      group_by: []
    - matchers: [y="2"]
      receiver: other
      group_by: ['...']
      routes:
      - matchers: [z="1"]
        group_by: [b]
receivers: [{name: root}, {name: other}]
time_intervals: [{name: night}]
""")
    tree = config.routing_tree()
    assert tree.opts == RouteOpts(receiver="root", group_by=frozenset({"a"}), group_wait=timedelta(seconds=10),
                                  group_interval=timedelta(minutes=1), repeat_interval=timedelta(hours=2))
    mid = tree.routes[0]
    assert mid.continue_ and mid.opts.mute_time_intervals == ("night",)
    y1, y2 = mid.routes
    assert y1.opts.receiver == "root" and y1.opts.group_by == frozenset({"a"})  # group_by: [] inherits
    assert not y1.continue_ and y1.opts.mute_time_intervals == ()  # neither is inherited
    assert y1.opts.group_wait == timedelta(seconds=10) and y1.opts.repeat_interval == timedelta(hours=2)
    assert y2.opts.receiver == "other" and y2.opts.group_by_all
    assert y2.opts.group_by == frozenset({"a"})  # Go keeps the parent's names next to group_by_all
    z1 = y2.routes[0]
    assert z1.opts.group_by == frozenset({"b"}) and not z1.opts.group_by_all


def test_defaults_at_the_root():
    tree = parse_config("route: {receiver: r}\nreceivers: [{name: r}]").routing_tree()
    assert tree.opts.group_wait == timedelta(seconds=30)
    assert tree.opts.group_interval == timedelta(minutes=5)
    assert tree.opts.repeat_interval == timedelta(hours=4)
    assert tree.opts.group_by == frozenset() and not tree.opts.group_by_all
    assert tree.key() == "{}"


# -- matching details ------------------------------------------------------------------------------------


def test_continue_collects_several_routes_and_root_is_fallback():
    config = parse_config("""
route:
  receiver: def
  routes:
  - {matchers: [a="1"], receiver: one, continue: true}
  - {matchers: [a="1"], receiver: two}
  - {matchers: [a="1"], receiver: three}
receivers: [{name: def}, {name: one}, {name: two}, {name: three}]
""")
    assert routes_test(config, {"a": "1"}) == ["one", "two"]
    assert routes_test(config, {"a": "2"}) == ["def"]


def test_parent_without_matching_child_is_the_match():
    config = parse_config("""
route:
  receiver: def
  routes:
  - matchers: [team="x"]
    receiver: team
    routes:
    - {matchers: [sev="page"], receiver: pager}
receivers: [{name: def}, {name: team}, {name: pager}]
""")
    assert routes_test(config, {"team": "x", "sev": "info"}) == ["team"]
    assert routes_test(config, {"team": "x", "sev": "page"}) == ["pager"]


def test_missing_label_matches_empty_string():
    config = parse_config("""
route:
  receiver: def
  routes:
  - {matchers: ['team=""'], receiver: nobody}
  - {matchers: ['team!~"a|b"'], receiver: not_ab}
receivers: [{name: def}, {name: nobody}, {name: not_ab}]
""")
    assert routes_test(config, {}) == ["nobody"]
    assert routes_test(config, {"team": "c"}) == ["not_ab"]
    assert routes_test(config, {"team": "a"}) == ["def"]


def test_route_id_distinguishes_equal_keys():
    tree = tree_of("receiver: notify-def\nroutes:\n- {matchers: [a=\"1\"]}\n- {matchers: [a=\"1\"]}")
    first, second = tree.routes
    assert first.key() == second.key() == '{}/{a="1"}'
    assert first.id() == '{}/{a="1"}/0' and second.id() == '{}/{a="1"}/1'


def test_build_route_tree_from_route_config():
    config = parse_config("route: {receiver: r, routes: [{matchers: [a=b]}]}\nreceivers: [{name: r}]")
    tree = build_route_tree(config.route)
    assert tree.routes[0].parent is tree
    assert tree.routes[0].config is config.route.routes[0]
