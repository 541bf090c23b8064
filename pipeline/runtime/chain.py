"""Running a chain of processors on one record: the part of the runtime that needs no Kafka.

The Kafka runtime (pipeline.runtime.worker) and the in-memory one (pipeline.runtime.memory) both
hand every input record to ``ChainExecutor.run`` and write what comes back. An emit to a port whose
topic the next stage of the chain reads is handed to that stage in memory, unencoded, when its key
stays on the record's partition; otherwise (normalize re-keys a relabeled alert) it is written to the
topic, and the worker owning its partition reads it there and goes on from that stage. Emits to
other ports are outputs. A ``tap`` topic is also written where it is passed in memory, marked so that
the chain never reads it back.

A rejected record — a processor's ``Rejected``, a processor that raised (a bug: logged with its
traceback), an emit to an undeclared port — becomes one dead letter: the bytes the record came in
with, the stage and the reason. Outputs the record had already caused stay.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.dead_letters import Rejected
from pipeline.runtime.partitioning import partition_of
from pipeline.runtime.state import TableState
from pipeline.stages.processor import Emit, Processor, Record
from pipeline.topology.model import Chain, Stage, Topology

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Output:
    """A record to write: a declared topic, its key, and the value as emitted (a record or bytes)."""

    topic: str
    key: bytes | None
    value: Any
    headers: tuple[tuple[str, bytes], ...] = ()
    tap: bool = False
    partition: int | None = None   # where it must go when not by its key (changelogs of row tables)


@dataclass(slots=True)
class DeadLetter:
    stage: str
    rejected: Rejected


@dataclass(slots=True)
class Pending:
    """The rest of a record's way through the chain, from an async processor on."""

    index: int
    record: Record


@dataclass
class Link:
    index: int      # the stage that reads it
    port: str       # that stage's input port
    topic: str


@dataclass
class StageRunner:
    stage: Stage
    processor: Processor
    state: dict[str, TableState]
    outputs: dict[str, str]                    # port -> topic
    links: dict[str, Link] = field(default_factory=dict)  # port -> next stage in memory
    is_async: bool = False

    def bind(self, partition: int | None) -> None:
        for table in self.state.values():
            table.partition = partition


class ChainExecutor:
    def __init__(self, topology: Topology, chain: Chain, processors: Sequence[Processor],
                 tables: Callable[[Stage, Processor], dict[str, TableState]]):
        self.topology = topology
        self.chain = chain
        self.partitions = topology.topics[next(iter(chain.stages[0].inputs.values()))].partitions
        self.runners: list[StageRunner] = []
        for stage, processor in zip(chain.stages, processors, strict=True):
            check_ports(stage, processor)
            self.runners.append(StageRunner(
                stage=stage, processor=processor, state=tables(stage, processor), outputs=dict(stage.outputs),
                is_async=inspect.iscoroutinefunction(type(processor).process)))
        for index, runner in enumerate(self.runners[:-1]):
            following = self.runners[index + 1]
            for port, topic in runner.outputs.items():
                for in_port, in_topic in following.stage.inputs.items():
                    if in_topic == topic:
                        runner.links[port] = Link(index + 1, in_port, topic)
        self.taps = {name for name, spec in topology.topics.items() if spec.tap}
        # where each chain input enters: topic -> (stage index, port)
        self.entries: dict[str, tuple[int, str]] = {}
        for index, runner in enumerate(self.runners):
            for port, topic in runner.stage.inputs.items():
                self.entries.setdefault(topic, (index, port))

    @property
    def processors(self) -> list[Processor]:
        return [r.processor for r in self.runners]

    def entry(self, topic: str) -> tuple[int, str]:
        return self.entries[topic]

    # -- one record ---------------------------------------------------------------------------------
    def run(self, index: int, record: Record, now: datetime, outs: list[Output]
            ) -> DeadLetter | list[Pending] | None:
        """Take ``record`` through the chain from stage ``index``: outputs appended to ``outs``; a dead
        letter, the async work left (``finish`` it), or None when done."""
        runner = self.runners[index]
        if runner.is_async:
            return [Pending(index, record)]
        runner.bind(record.partition)
        try:
            result = runner.processor.process(record, runner.state, now)
        except Exception as exc:  # noqa: BLE001 - a processor bug must not stop the stage
            return self._crashed(runner, exc)
        finally:
            runner.bind(None)
        return self._emitted(runner, record, result, now, outs)

    async def finish(self, pending: list[Pending], now: datetime, outs: list[Output]) -> DeadLetter | None:
        """Run the async parts of a record's way (and whatever follows them)."""
        while pending:
            item = pending.pop(0)
            runner = self.runners[item.index]
            try:
                result = await runner.processor.process(item.record, runner.state, now)
            except Exception as exc:  # noqa: BLE001
                return self._crashed(runner, exc)
            more = self._emitted(runner, item.record, result, now, outs)
            if isinstance(more, DeadLetter):
                return more
            if more:
                pending.extend(more)
        return None

    def tick(self, index: int, now: datetime, outs: list[Output]) -> list[DeadLetter | list[Pending]]:
        """A stage's timer: its emits go down the chain like those of ``process``."""
        runner = self.runners[index]
        try:
            emits = runner.processor.tick(runner.state, now)
        except Exception:  # noqa: BLE001 - a failing tick is logged; the next one tries again
            log.exception("%s: tick failed", runner.stage.name)
            return []
        problems: list[DeadLetter | list[Pending]] = []
        for emit in emits:
            origin = Record(emit.key, emit.value, partition=self._partition(emit.key))
            outcome = self._emitted(runner, origin, (emit,), now, outs)
            if outcome:
                problems.append(outcome)
        return problems

    def _emitted(self, runner: StageRunner, record: Record, result: Sequence[Emit] | Rejected, now: datetime,
                 outs: list[Output]) -> DeadLetter | list[Pending] | None:
        if isinstance(result, Rejected):
            return DeadLetter(runner.stage.name, result)
        pending: list[Pending] = []
        for emit in result:
            topic = runner.outputs.get(emit.port)
            if topic is None:
                log.error("%s emitted to port %r, which the topology does not declare for it (a bug)",
                          runner.stage.name, emit.port)
                return DeadLetter(runner.stage.name, Rejected(
                    "StageBug", f"{runner.stage.name} emitted to undeclared port {emit.port!r}"))
            link = runner.links.get(emit.port)
            if link is None or (emit.key is not None and record.partition is not None
                                and self._partition(emit.key) != record.partition):
                outs.append(Output(topic, emit.key, emit.value, emit.headers))
                continue
            if topic in self.taps:
                outs.append(Output(topic, emit.key, emit.value, emit.headers, tap=True))
            onward = Record(emit.key, emit.value, link.port, record.partition, record.offset, record.timestamp,
                            emit.headers)
            outcome = self.run(link.index, onward, now, outs)
            if isinstance(outcome, DeadLetter):
                return outcome
            if outcome:
                pending.extend(outcome)
        return pending or None

    def _partition(self, key: bytes | None) -> int | None:
        return None if key is None else partition_of(key, self.partitions)

    def _crashed(self, runner: StageRunner, exc: Exception) -> DeadLetter:
        log.exception("%s failed on a record (a bug; the record is dead-lettered)", runner.stage.name)
        return DeadLetter(runner.stage.name, Rejected(type(exc).__name__, f"{runner.stage.name} failed: {exc}"))

    # -- timers -------------------------------------------------------------------------------------
    def tickers(self) -> list[tuple[int, float]]:
        return [(i, r.processor.TICK_INTERVAL_S) for i, r in enumerate(self.runners)
                if r.processor.TICK_INTERVAL_S is not None]

    def wants_tick(self, now: datetime) -> list[int]:
        return [i for i, r in enumerate(self.runners)
                if r.processor.TICK_INTERVAL_S is not None and r.processor.wants_tick(now)]

    # -- views ----------------------------------------------------------------------------------------
    def view_ports(self) -> dict[str, list[tuple[Processor, str]]]:
        """topic -> the processors following it, with the port they know it by."""
        follows: dict[str, list[tuple[Processor, str]]] = {}
        for runner in self.runners:
            wanted = set(runner.processor.READS)
            for port, topic in runner.stage.reads.items():
                if port in wanted:
                    follows.setdefault(topic, []).append((runner.processor, port))
        return follows

    def tables(self) -> list[TableState]:
        return [table for runner in self.runners for table in runner.state.values()]


def check_ports(stage: Stage, processor: Processor) -> None:
    """The processor and the topology agree on the stage's ports and tables (a mismatch stops the worker)."""
    problems = []
    undeclared = set(processor.OUTPUTS) - set(stage.outputs)
    if undeclared:
        problems.append(f"output ports {sorted(undeclared)} are not in the topology")
    unknown = set(stage.outputs) - set(processor.OUTPUTS)
    if unknown:
        problems.append(f"the topology declares output ports {sorted(unknown)} that it does not have")
    missing_reads = set(processor.READS) - set(stage.reads)
    if missing_reads:
        problems.append(f"it reads ports {sorted(missing_reads)} the topology does not map")
    tables = {t.name for t in processor.TABLES}
    if tables != set(stage.tables):
        problems.append(f"it keeps tables {sorted(tables)}, the topology declares {sorted(stage.tables)}")
    if problems:
        raise ValueError(f"stage {stage.name!r} ({type(processor).__name__}): " + "; ".join(problems))

