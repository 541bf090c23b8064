"""The in-memory runtime: chains of processors on in-memory topics, with the time given.

What unit tests of processors run under, and what replays recorded traffic on simulated time: the
same ChainExecutor and TableState as the Kafka runtime, with every table on a MemoryBackend and a
checkpoint after each step. Records between chains are encoded and decoded as on Kafka, so a
processor that emits something its topic's schema cannot carry fails here too.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline import wire
from pipeline.dead_letters import dead_letter_headers
from pipeline.models import RECORD_MODELS
from pipeline.runtime.chain import ChainExecutor, DeadLetter, Output, Pending
from pipeline.runtime.state import MemoryBackend, TableState
from pipeline.stages.processor import Processor, Record
from pipeline.topology.model import Chain, Stage, Topology


@dataclass(frozen=True)
class Written:
    """A record the runtime wrote to a topic: the value decoded with the topic's schema (bytes for
    schema-less topics), and the bytes themselves."""

    topic: str
    key: bytes | None
    value: Any
    raw: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class MemoryRuntime:
    """``keep``: the topics whose records stay in ``written`` (None: every topic). A replay of a day of
    traffic keeps only what it reads back, and takes it out with ``take`` as it goes, so memory is
    bounded by what one step writes, not by the whole run."""

    def __init__(self, topology: Topology, processors: Mapping[str, Processor], *,
                 keep: Iterable[str] | None = None):
        self.topology = topology
        self.written: dict[str, list[Written]] = defaultdict(list)
        self._keep = None if keep is None else frozenset(keep)
        self.executors: list[ChainExecutor] = []
        self._queue: deque[tuple[str, bytes | None, bytes | None, tuple, float]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        for chain in topology.chains():
            stages = [s for s in chain.stages if s.name in processors]
            if not stages:
                continue
            if len(stages) != len(chain.stages):
                # run the given stages only: each as a chain of its own (a partial topology)
                for stage in stages:
                    self._add(Chain(stage.name, (stage,), stage.consumer_group, "partial"), processors)
            else:
                self._add(chain, processors)
        self._consumers: dict[str, ChainExecutor] = {}
        self._followers: dict[str, list[tuple[Processor, str]]] = defaultdict(list)
        for executor in self.executors:
            for topic in executor.entries:
                self._consumers.setdefault(topic, executor)
            for topic, follows in executor.view_ports().items():
                self._followers[topic].extend(follows)
            for index, runner in enumerate(executor.runners):
                runner.processor.on_assign(frozenset(range(executor.partitions)), runner.state)

    def _add(self, chain: Chain, processors: Mapping[str, Processor]) -> None:
        partitions = self.topology.topics[next(iter(chain.stages[0].inputs.values()))].partitions

        def tables(stage: Stage, processor: Processor) -> dict[str, TableState]:
            out = {}
            for spec in processor.TABLES:
                state = TableState(spec, MemoryBackend(), partitions)
                state.owned = frozenset(range(partitions))
                state.changelog = stage.tables[spec.name].changelog  # type: ignore[attr-defined]
                out[spec.name] = state
            return out

        self.executors.append(ChainExecutor(self.topology, chain, [processors[s.name] for s in chain.stages], tables))

    # -- feeding it -----------------------------------------------------------------------------------
    def send(self, topic: str, key: bytes | None, value: Any, now: datetime, *, timestamp: float | None = None,
             headers: tuple = ()) -> None:
        """Write a record to ``topic`` (bytes, or a record encoded with wire.encode) and process everything
        it leads to, at ``now``."""
        raw = value if value is None or isinstance(value, (bytes, bytearray)) else wire.encode(value)
        self._write(Output(topic, key, raw, tuple(headers)))
        self._drain(now, timestamp if timestamp is not None else now.timestamp())

    def tick(self, now: datetime) -> None:
        """Run every processor's timer once at ``now`` (the test decides when time passes)."""
        self._tick(now, wanted_only=False)

    def tick_wanted(self, now: datetime) -> None:
        """Run the timers of the stages that asked for one (``wants_tick``: group_wait 0), as the Kafka
        worker wakes them right after a record; the other timers wait for ``tick``."""
        self._tick(now, wanted_only=True)

    def _tick(self, now: datetime, wanted_only: bool) -> None:
        for executor in self.executors:
            indices = executor.wants_tick(now) if wanted_only else [index for index, _ in executor.tickers()]
            for index in indices:
                outs: list[Output] = []
                for problem in executor.tick(index, now, outs):
                    if isinstance(problem, list):
                        self._finish(executor, problem, now, outs)
                self._emit(outs)
            self._checkpoint(executor)
        self._drain(now, now.timestamp())

    def follow(self, topic: str, key: bytes | None, value: Any) -> None:
        """Hand a record of a global view (``reads``) to its followers, as if read from ``topic``."""
        raw = value if value is None or isinstance(value, (bytes, bytearray)) else wire.encode(value)
        self._write(Output(topic, key, raw))

    def restore(self, changelogs: Mapping[str, list[Written]]) -> None:
        """Recover every table from changelog records (another runtime's ``written``), as a worker
        restarted on a new machine does: what a crash leaves is what was logged."""
        for executor in self.executors:
            for table in executor.tables():
                records = changelogs.get(table.changelog, [])  # type: ignore[attr-defined]
                for partition in range(table.partitions):
                    mine = [(w.key, w.raw) for w in records if table.partition_for(w.key) == partition]
                    if mine:
                        table.restore(partition, mine, len(mine) - 1)

    def changelogs(self) -> dict[str, list[Written]]:
        """A copy of every changelog written so far (to ``restore`` another runtime from)."""
        names = {t.changelog for e in self.executors for t in e.tables()}  # type: ignore[attr-defined]
        return {name: list(self.written.get(name, ())) for name in names}

    def records(self, topic: str) -> list[Written]:
        return list(self.written.get(topic, ()))

    def take(self, topic: str) -> list[Written]:
        """The records written to ``topic`` since the last ``take`` of it, which forgets them."""
        return self.written.pop(topic, [])

    def values(self, topic: str) -> list[Any]:
        return [w.value for w in self.written.get(topic, ())]

    def table(self, stage: str, name: str) -> TableState:
        for executor in self.executors:
            for runner in executor.runners:
                if runner.stage.name == stage:
                    return runner.state[name]
        raise KeyError(f"{stage}.{name}")

    # -- inside -----------------------------------------------------------------------------------------
    def _write(self, out: Output) -> None:
        spec = self.topology.topics[out.topic]
        raw = out.value
        if raw is not None and not isinstance(raw, (bytes, bytearray)):
            raw = wire.encode(raw)
        if self._keep is None or out.topic in self._keep:
            model = RECORD_MODELS.get(spec.schema_name) if spec.schema_name else None
            decoded = raw
            if raw is not None and model is not None:
                try:
                    decoded = wire.decode(model, raw)
                except wire.WireError:
                    decoded = raw
            self.written[out.topic].append(Written(out.topic, out.key, decoded, raw, tuple(out.headers)))
        for processor, port in self._followers.get(out.topic, ()):
            processor.follow(port, out.key, raw)
        if not out.tap and out.topic in self._consumers:
            self._queue.append((out.topic, out.key, raw, tuple(out.headers), 0.0))

    def _emit(self, outs: Iterable[Output]) -> None:
        for out in outs:
            self._write(out)

    def _drain(self, now: datetime, timestamp: float) -> None:
        while self._queue:
            topic, key, raw, headers, _ = self._queue.popleft()
            executor = self._consumers[topic]
            index, port = executor.entry(topic)
            runner = executor.runners[index]
            outs: list[Output] = []
            value: Any = raw
            if not getattr(runner.processor, "RAW_INPUT", False):
                spec = self.topology.topics[topic]
                model = RECORD_MODELS.get(spec.schema_name) if spec.schema_name else None
                if raw is None and model is not None:
                    self._dead_letter(runner.stage, topic, key, raw, headers, DeadLetter(
                        runner.stage.name, _rejected("EmptyRecord", "record has no value (tombstone)")))
                    continue
                if model is None:
                    value = raw
                else:
                    try:
                        value = wire.decode(model, raw)
                    except wire.WireError as exc:
                        self._dead_letter(runner.stage, topic, key, raw, headers,
                                          DeadLetter(runner.stage.name, _rejected("WireError", str(exc))))
                        continue
            record = Record(key, value, port, executor._partition(key) or 0, -1, timestamp, headers)
            outcome = executor.run(index, record, now, outs)
            if isinstance(outcome, list):
                outcome = self._finish(executor, outcome, now, outs)
            if isinstance(outcome, DeadLetter):
                stage = next(r.stage for r in executor.runners if r.stage.name == outcome.stage)
                self._dead_letter(stage, topic, key, raw, headers, outcome)
            self._emit(outs)
            self._checkpoint(executor)

    def _finish(self, executor: ChainExecutor, pending: list[Pending], now: datetime, outs: list[Output]):
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(executor.finish(pending, now, outs))

    def _dead_letter(self, stage: Stage, topic: str, key, raw, headers, dead: DeadLetter) -> None:
        target = stage.dead_letters
        if target is None:
            raise RuntimeError(f"{stage.name} rejected a record and has no dead_letters topic: {dead.rejected}")
        self._write(Output(target, key, raw, tuple(dead_letter_headers(
            stage=dead.stage, reason=dead.rejected.reason, error_class=dead.rejected.error_class,
            topic=topic, partition=0, offset=-1, original_headers=list(headers)))))

    def _checkpoint(self, executor: ChainExecutor) -> None:
        for table in executor.tables():
            if not table.dirty():
                continue
            frozen = table.freeze()
            kept = self._keep is None or table.changelog in self._keep  # type: ignore[attr-defined]
            for change in frozen.changelog():
                if kept:
                    self.written[table.changelog].append(  # type: ignore[attr-defined]
                        Written(table.changelog, change.key, change.value, change.value))  # type: ignore[attr-defined]
                for processor, port in self._followers.get(table.changelog, ()):  # type: ignore[attr-defined]
                    processor.follow(port, change.key, change.value)
            table.commit(frozen, {})

    def close(self) -> None:
        if self._loop is not None:
            for processor in (p for e in self.executors for p in e.processors):
                self._loop.run_until_complete(processor.aclose())
            self._loop.close()
            self._loop = None


def _rejected(error_class: str, reason: str):
    from pipeline.dead_letters import Rejected

    return Rejected(error_class, reason)
