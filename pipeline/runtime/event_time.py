"""Event-time watermarks across chain boundaries: how the group stage knows that every alert received
before a time has reached it.

The alerts of one POST spread over the partitions of alerts.raw (by fingerprint) and are handled as
separate records, perhaps by separate workers; those that fall into one aggregation group meet again
only in the group stage's partition. With group_wait 0 the first of them used to flush the group alone
and the rest waited a whole group_interval (Alertmanager sends them in one notification).

So every chain feeding one that needs event time reports, per partition of its input, a time up to
which it has handled everything there — the timestamp of the last record it handled (the bridge stamps
every record of a POST with the time it received the POST), or, where it has handled all the
partition held at a fetch, the time of that fetch's response minus ``worker.watermark_lateness_ms``
(a record received before may still be on its way to the broker; not "now": a partition's highwater
is only as fresh as its last fetch, so those chains fetch every ``worker.watermark_fetch_wait_ms``
even when no record comes) — and the chain downstream takes, per partition of its own input,
the minimum over the upstream partitions: the **watermark**. A group's first flush waits until the
watermark of its partition reaches its due time, bounded by ``group.first_flush_max_wait_s`` (a slow
upstream must not hold notifications back).

Reports travel in band, in the ``pipeline-watermark`` header: on the batch records the upstream writes
anyway, and as a header-only record to a partition that got none meanwhile; a partition's records keep
their order, so a report follows the records it speaks for. A chain reports while it is busy and for
``worker.watermark_hot_s`` after (a group waits only shortly after the alerts that made it arrived).

Exact for alerts received by one bridge process; with several, up to the skew between their receipts.
Records re-keyed inside a chain (relabeling changes a fingerprint) go through a topic the watermark
does not follow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import orjson

from pipeline.topology.model import Chain, Topology

WATERMARK_HEADER = "pipeline-watermark"


def first_input(chain: Chain) -> str:
    """The topic whose partitions a chain's progress is counted in (its first stage's first input)."""
    return next(iter(chain.stages[0].inputs.values()))


def report_targets(topology: Topology, wants_event_time: Iterable[str]) -> dict[str, set[str]]:
    """Per chain, the topics it reports its progress to: those of its outputs that are the first
    input of a chain that waits for the watermark (one of its stages is in ``wants_event_time``) or
    reports itself (it passes the watermark on)."""
    wants = set(wants_event_time)
    chains = topology.chains()
    entry = {first_input(c): c.name for c in chains}
    needs = {c.name for c in chains if any(s.name in wants for s in c.stages)}
    targets: dict[str, set[str]] = {c.name: set() for c in chains}
    changed = True
    while changed:
        changed = False
        for chain in chains:
            internal = chain.internal()
            for stage in chain.stages:
                for topic in stage.outputs.values():
                    downstream = entry.get(topic)
                    if (topic in internal or downstream is None or downstream == chain.name
                            or downstream not in needs or topic in targets[chain.name]):
                        continue
                    targets[chain.name].add(topic)
                    if chain.name not in needs:
                        needs.add(chain.name)
                    changed = True
    return {name: topics for name, topics in targets.items() if topics}


class Progress:
    """How far a chain has handled each partition of its input, as it reports it downstream (ms).

    ``handled(p, ms)`` after a record of p was handled and its emits written; a record whose work
    goes on asynchronously is ``started`` first and ``finished`` when written: while one is open, p
    reports just below the oldest open one (its emits are not written yet)."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self.handled_ms: dict[int, int] = {}
        self._open: dict[int, Counter[int]] = {}

    def handled(self, partition: int, ms: int) -> None:
        if ms > self.handled_ms.get(partition, -1):
            self.handled_ms[partition] = ms

    def started(self, partition: int, ms: int) -> None:
        self._open.setdefault(partition, Counter())[ms] += 1

    def finished(self, partition: int, ms: int, handled: int | None = None) -> None:
        """The open record of ``started(partition, ms)`` is written; ``handled``: what p reports
        then (default ``ms``)."""
        open_ = self._open.get(partition)
        if open_ is not None:
            open_[ms] -= 1
            if open_[ms] <= 0:
                del open_[ms]
            if not open_:
                del self._open[partition]
        self.handled(partition, ms if handled is None else handled)

    def busy(self, partition: int) -> bool:
        return partition in self._open

    def report(self, owned: Iterable[int]) -> dict[int, int]:
        """The values to report for the partitions this worker owns (those it knows anything of)."""
        out = {}
        for p in owned:
            ms = self.handled_ms.get(p)
            open_ = self._open.get(p)
            if open_:
                ms = min(ms if ms is not None else 1 << 62, min(open_) - 1)
            if ms is not None:
                out[p] = ms
        return out

    def forget(self, keep: Iterable[int]) -> None:
        """Drop what is known of partitions no longer owned (their new owner reports them)."""
        kept = set(keep)
        for p in [p for p in self.handled_ms if p not in kept]:
            del self.handled_ms[p]


def encode_report(partitions: int, values: dict[int, int]) -> bytes:
    return orjson.dumps({"n": partitions, "p": values}, option=orjson.OPT_NON_STR_KEYS)


class Watermarks:
    """The reports a chain read, per partition of its input: the watermark of each."""

    def __init__(self) -> None:
        self._reports: dict[int, dict[int, int]] = {}  # our partition -> upstream partition -> ms
        self._upstream: int | None = None

    def observe(self, partition: int, header: bytes) -> bool:
        """Apply a report read on ``partition``; whether the watermark may have moved."""
        try:
            report = orjson.loads(header)
            upstream = int(report["n"])
            values = {int(p): int(ms) for p, ms in report["p"].items()}
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return False  # not a report of ours: ignored
        self._upstream = upstream
        known = self._reports.setdefault(partition, {})
        moved = False
        for p, ms in values.items():
            if ms > known.get(p, -1):
                known[p] = ms
                moved = True
        return moved

    def watermark_ms(self, partition: int) -> int | None:
        """Everything with a timestamp up to this was handled upstream and is in our input ahead of the
        report (None: some upstream partition has not reported yet)."""
        known = self._reports.get(partition)
        if self._upstream is None or known is None or len(known) < self._upstream:
            return None
        return min(known.values())
