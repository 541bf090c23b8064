"""pipeline.route_identity: which route of one tree is which route of another, positions aside."""

from __future__ import annotations

import textwrap

from pipeline.amconfig import parse_config
from pipeline.route_identity import match_routes, match_siblings, route_name, route_path, signature

RECEIVERS = "receivers: [{name: default}, {name: a}, {name: b}, {name: c}, {name: pager}]\n"


def tree(route_yaml: str):
    return parse_config(textwrap.dedent(route_yaml) + RECEIVERS, "am.yml").routing_tree()


def by_path(root):
    return {route_path(r): r for r in root.walk()}


OLD = tree("""
route:
  receiver: default
  routes:
    - matchers: ['team="a"']
      receiver: a
      routes:
        - {matchers: ['env="prod"'], receiver: pager}
    - {matchers: ['team="b"'], receiver: b}
    - {matchers: ['team="c"'], receiver: c}
""")


def test_unchanged_tree_pairs_every_route_identically():
    matching = match_routes(OLD, tree("""
    route:
      receiver: default
      routes:
        - matchers: ['team="a"']
          receiver: a
          routes:
            - {matchers: ['env="prod"'], receiver: pager}
        - {matchers: ['team="b"'], receiver: b}
        - {matchers: ['team="c"'], receiver: c}
    """))
    assert matching.unchanged
    assert [route_path(p.new) for p in matching.pairs] == [
        "route", "route.routes[0]", "route.routes[0].routes[0]", "route.routes[1]", "route.routes[2]"]
    assert all(p.identical and not p.moved for p in matching.pairs)


def test_identity_survives_an_added_sibling_and_a_reorder():
    new = tree("""
    route:
      receiver: default
      routes:
        - {matchers: ['team="new"'], receiver: b}
        - {matchers: ['team="c"'], receiver: c}
        - matchers: ['team="a"']
          receiver: a
          routes:
            - {matchers: ['env="prod"'], receiver: pager}
        - {matchers: ['team="b"'], receiver: b}
    """)
    matching = match_routes(OLD, new)
    old_paths, new_paths = by_path(OLD), by_path(new)
    assert matching.new_of(old_paths["route.routes[0]"]) is new_paths["route.routes[2]"]
    assert matching.new_of(old_paths["route.routes[0].routes[0]"]) is new_paths["route.routes[2].routes[0]"]
    assert matching.old_of(new_paths["route.routes[3]"]) is old_paths["route.routes[1]"]
    assert [route_path(r) for r in matching.added] == ["route.routes[0]"]
    assert matching.removed == []
    # old order a, b, c sits at new positions 2, 3, 1: a and b keep their order, c moved in front.
    moved = [route_path(p.new) for p in matching.pairs if p.moved]
    assert moved == ["route.routes[1]"]
    assert all(p.identical for p in matching.pairs)  # the same groups; reordering is not an identity change
    assert not matching.unchanged


def test_removed_and_added_include_whole_subtrees_and_relocations_are_flagged():
    new = tree("""
    route:
      receiver: default
      routes:
        - matchers: ['team="b"']
          receiver: b
          routes:
            - {matchers: ['team="c"'], receiver: c}
    """)
    matching = match_routes(OLD, new)
    assert [route_path(r) for r in matching.removed] == ["route.routes[0]", "route.routes[0].routes[0]"]
    assert matching.added == []
    relocated = matching.pair_of_new(by_path(new)["route.routes[0].routes[0]"])
    assert relocated is not None and relocated.relocated and not relocated.identical
    assert route_path(relocated.old) == "route.routes[2]"


def test_siblings_with_equal_matchers_pair_by_receiver_continue_and_group_by():
    old = tree("""
    route:
      receiver: default
      routes:
        - {matchers: ['x="1"'], receiver: a, continue: true}
        - {matchers: ['x="1"'], receiver: b, continue: true, group_by: [alertname]}
        - {matchers: ['x="1"'], receiver: c}
    """)
    new = tree("""
    route:
      receiver: default
      routes:
        - {matchers: ['x="1"'], receiver: c}
        - {matchers: ['x="1"'], receiver: b, continue: true, group_by: [alertname, job]}
        - {matchers: ['x="1"'], receiver: a, continue: true}
    """)
    pairs = match_siblings(old.routes, new.routes)
    assert [(p.old.receiver, p.new.receiver) for p in pairs] == [("a", "a"), ("b", "b"), ("c", "c")]
    b = pairs[1]
    assert not b.identical and signature(b.old).group_by == ("alertname",)
    # old order a, b, c at new positions 2, 1, 0: one of them stays, two moved.
    assert sum(p.moved for p in pairs) == 2


def test_a_changed_matcher_is_another_route():
    new = tree("""
    route:
      receiver: default
      routes:
        - matchers: ['team="a"']
          receiver: a
          routes:
            - {matchers: ['env="production"'], receiver: pager}
        - {matchers: ['team="b"'], receiver: b}
        - {matchers: ['team="c"'], receiver: c}
    """)
    matching = match_routes(OLD, new)
    assert [route_path(r) for r in matching.removed] == ["route.routes[0].routes[0]"]
    assert [route_name(r) for r in matching.added] == ['{env="production"} → pager']


def test_names_and_paths():
    paths = by_path(OLD)
    assert route_name(paths["route"]) == "route → default"
    assert route_name(paths["route.routes[0].routes[0]"]) == '{env="prod"} → pager'
    assert str(signature(paths["route.routes[1]"])) == '{team="b"} → b'
