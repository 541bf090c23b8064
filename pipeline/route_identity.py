"""Which route of one route tree is which route of another, whatever their positions.

``Route.id()`` (pipeline.routing) includes a route's position among its siblings, so adding a sibling
in front of it, or reordering siblings, gives an unchanged route a new id. Comparing two versions of a
configuration (``pipeline config diff``) and carrying aggregation groups across a reload both need the
opposite: an edit that does not touch a route keeps it the same route.

The matching, top down from the two roots (always the same route):

* Two children of matched parents are candidates when their matchers are equal (``str(Matchers)``,
  Alertmanager's spelling, which is also what the route's part of a group key is made of). Matchers are
  a route's name: a route whose matchers changed is another route.
* Among candidates, the pair agreeing on more of receiver, continue and group_by (effective values)
  wins, then the pair whose ranks among the candidates are closest, then the earlier old child. So two
  siblings with the same matchers but different receivers (a ``continue: true`` fan-out) keep their
  partners when a third is added, moved or removed.
* Children left without a partner are added or removed, with their whole subtree. A removed subtree and
  an added one whose roots have the same :func:`signature` under *different* parents are reported as a
  relocation (their group keys change: a relocated route is not the same route for grouping).
* A matched child whose order relative to its matched siblings changed is ``moved``: the matched pairs
  in old order, the longest run whose new positions increase stays, every other pair moved. Order is
  semantic in a route tree (the first matching child without ``continue`` ends the search).

Pure data in, pure data out: no I/O, no configuration loading.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline.routing import Route


@dataclass(frozen=True, slots=True)
class RouteSignature:
    """What makes a route the route it is, position aside (effective, inherited values)."""

    matchers: str
    receiver: str
    continue_: bool
    group_by: tuple[str, ...]  # sorted label names, or ("...",) for group_by: ['...']

    def __str__(self) -> str:
        return f"{self.matchers} → {self.receiver}"


def signature(route: Route) -> RouteSignature:
    opts = route.opts
    group_by = ("...",) if opts.group_by_all else tuple(sorted(opts.group_by))
    return RouteSignature(str(route.matchers), opts.receiver, opts.continue_, group_by)


@dataclass(frozen=True, slots=True, eq=False)
class RoutePair:
    """One route present in both trees."""

    old: Route
    new: Route
    moved: bool = False  # its order among its matched siblings changed
    relocated: bool = False  # found under another parent (its route key, so its group keys, changed)

    @property
    def identical(self) -> bool:
        """Same signature and same place: groups of this route are the same groups in both trees."""
        return not self.relocated and signature(self.old) == signature(self.new)


@dataclass
class RouteMatching:
    """The result of :func:`match_routes`.

    ``pairs`` is in the new tree's depth-first order (the roots first); ``removed`` and ``added`` hold
    every unmatched node (descendants of an unmatched node included), depth-first in their own tree.
    """

    pairs: list[RoutePair] = field(default_factory=list)
    removed: list[Route] = field(default_factory=list)
    added: list[Route] = field(default_factory=list)
    _by_old: dict[int, RoutePair] = field(default_factory=dict, repr=False)
    _by_new: dict[int, RoutePair] = field(default_factory=dict, repr=False)

    def new_of(self, old: Route) -> Route | None:
        pair = self._by_old.get(id(old))
        return None if pair is None else pair.new

    def old_of(self, new: Route) -> Route | None:
        pair = self._by_new.get(id(new))
        return None if pair is None else pair.old

    def pair_of_new(self, new: Route) -> RoutePair | None:
        return self._by_new.get(id(new))

    def pair_of_old(self, old: Route) -> RoutePair | None:
        return self._by_old.get(id(old))

    @property
    def unchanged(self) -> bool:
        return not self.removed and not self.added and all(
            p.identical and not p.moved for p in self.pairs)


def match_routes(old_root: Route, new_root: Route) -> RouteMatching:
    """Pair the routes of two trees (see the module docstring for the rules)."""
    result = RouteMatching()
    top_removed: list[Route] = []
    top_added: list[Route] = []
    _match_subtree(RoutePair(old_root, new_root), result, top_removed, top_added)

    # Relocations: an unmatched subtree root in the old tree and one in the new with the same signature.
    relocated: list[RoutePair] = []
    waiting: dict[RouteSignature, list[Route]] = {}
    for route in top_removed:
        waiting.setdefault(signature(route), []).append(route)
    still_added: list[Route] = []
    for route in top_added:
        candidates = waiting.get(signature(route))
        if candidates:
            relocated.append(RoutePair(candidates.pop(0), route, relocated=True))
        else:
            still_added.append(route)
    still_removed = [r for rs in waiting.values() for r in rs]
    for pair in relocated:
        _match_subtree(pair, result, [], [])  # unmatched descendants of a relocated pair: plain add/remove

    result.removed.extend(node for top in still_removed for node in top.walk())
    result.added.extend(node for top in still_added for node in top.walk())
    for pair in result.pairs:
        result._by_old[id(pair.old)] = pair
        result._by_new[id(pair.new)] = pair
    # Orders promised by the docstring: pairs and added by the new tree, removed by the old one.
    new_order = {id(node): i for i, node in enumerate(new_root.walk())}
    old_order = {id(node): i for i, node in enumerate(old_root.walk())}
    result.pairs.sort(key=lambda p: new_order[id(p.new)])
    result.added.sort(key=lambda r: new_order[id(r)])
    result.removed.sort(key=lambda r: old_order[id(r)])
    return result


def _match_subtree(pair: RoutePair, result: RouteMatching, top_removed: list[Route],
                   top_added: list[Route]) -> None:
    result.pairs.append(pair)
    children = match_siblings(pair.old.routes, pair.new.routes)
    matched_old = {id(p.old) for p in children}
    matched_new = {id(p.new) for p in children}
    unmatched_old = [r for r in pair.old.routes if id(r) not in matched_old]
    unmatched_new = [r for r in pair.new.routes if id(r) not in matched_new]
    if pair.relocated:  # no second-level relocation search: add/remove what is left
        result.removed.extend(node for top in unmatched_old for node in top.walk())
        result.added.extend(node for top in unmatched_new for node in top.walk())
    else:
        top_removed.extend(unmatched_old)
        top_added.extend(unmatched_new)
    for child in children:
        if pair.relocated:  # below a relocated route every route key changed too
            child = RoutePair(child.old, child.new, moved=child.moved, relocated=True)
        _match_subtree(child, result, top_removed, top_added)


def match_siblings(old: list[Route], new: list[Route]) -> list[RoutePair]:
    """Pair two lists of sibling routes (equal matchers required); ``moved`` set on reordered pairs."""
    old_by_matchers: dict[str, list[int]] = {}
    for i, route in enumerate(old):
        old_by_matchers.setdefault(str(route.matchers), []).append(i)
    new_by_matchers: dict[str, list[int]] = {}
    for j, route in enumerate(new):
        new_by_matchers.setdefault(str(route.matchers), []).append(j)

    chosen: list[tuple[int, int]] = []
    for key, old_indices in old_by_matchers.items():
        new_indices = new_by_matchers.get(key)
        if not new_indices:
            continue
        if len(old_indices) == 1 and len(new_indices) == 1:
            chosen.append((old_indices[0], new_indices[0]))
            continue
        candidates = []
        for rank_old, i in enumerate(old_indices):
            sig_old = signature(old[i])
            for rank_new, j in enumerate(new_indices):
                sig_new = signature(new[j])
                agreement = ((sig_old.receiver == sig_new.receiver) + (sig_old.continue_ == sig_new.continue_)
                             + (sig_old.group_by == sig_new.group_by))
                candidates.append((-agreement, abs(rank_old - rank_new), i, j))
        candidates.sort()
        used_old: set[int] = set()
        used_new: set[int] = set()
        for _, _, i, j in candidates:
            if i not in used_old and j not in used_new:
                used_old.add(i)
                used_new.add(j)
                chosen.append((i, j))

    chosen.sort()  # old order
    staying = _longest_increasing([j for _, j in chosen])
    return [RoutePair(old[i], new[j], moved=k not in staying) for k, (i, j) in enumerate(chosen)]


def _longest_increasing(values: list[int]) -> set[int]:
    """Indices (into ``values``) of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []  # values[tails[k]]: the smallest tail of an increasing run of length k+1
    tail_values: list[int] = []
    previous: list[int] = [-1] * len(values)
    for index, value in enumerate(values):
        k = bisect_left(tail_values, value)
        if k > 0:
            previous[index] = tails[k - 1]
        if k == len(tails):
            tails.append(index)
            tail_values.append(value)
        else:
            tails[k] = index
            tail_values[k] = value
    out: set[int] = set()
    index = tails[-1] if tails else -1
    while index >= 0:
        out.add(index)
        index = previous[index]
    return out


def route_path(route: Route) -> str:
    """``route.routes[2].routes[0]``: where the route is in its configuration file."""
    if route.config is not None:
        return route.config.path
    parts: list[str] = []
    node = route
    while node.parent is not None:
        position = next(i for i, sibling in enumerate(node.parent.routes) if sibling is node)
        parts.append(f".routes[{position}]")
        node = node.parent
    return "route" + "".join(reversed(parts))


def route_name(route: Route) -> str:
    """A route in Alertmanager's words: its matchers and receiver, ``{team="db"} → db-pager``
    (the root, which has no matchers, is just ``route → default``)."""
    if route.parent is None:
        return f"route → {route.receiver}"
    return f"{route.matchers} → {route.receiver}"


def descendants(route: Route) -> Iterator[Route]:
    """Every node below ``route`` (not itself), depth-first."""
    for child in route.routes:
        yield from child.walk()
