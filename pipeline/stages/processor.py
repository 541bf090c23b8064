"""What a stage is: a small typed processor that never sees Kafka.

A processor gets one input record at a time with its state injected and the time given, and answers
with what to emit (or why the record cannot be processed). The runtime (pipeline.runtime) does
everything else: consuming, decoding, running adjacent stages chained in one worker, keeping the
state and its changelog, writing the emits, dead-lettering, committing, timers and global views.
The same processor runs under the Kafka runtime and under the in-memory one of the unit tests
(pipeline.runtime.memory), so its semantics are tested without a broker.

Ports, not topics: a processor emits to the output *ports* it declares (``OUTPUTS``); the topology
maps each port of a stage to a topic (``stages.<name>.outputs``), and reads its global views through
the ports of ``stages.<name>.reads``. No processor names a topic.

The contract, per call:

- ``process(record, state, now)`` returns a sequence of ``Emit`` (possibly empty) or a ``Rejected``
  (the record is dead-lettered with that reason; nothing it emitted is written). It must not raise
  for bad input; an exception is treated as a bug: the record is dead-lettered with the exception
  named and the traceback logged, and the stage goes on.
- ``tick(state, now)`` runs every ``TICK_INTERVAL_S`` (timers: expiry, group flushes) on the
  partitions this worker owns, and returns emits; the runtime also calls it right after a
  ``process`` when ``wants_tick(now)`` says something came due (group_wait 0).
- ``on_assign(partitions, state)`` is called when the worker's partitions change, before any
  ``process`` or ``tick`` on the new ones.
- ``follow(port, key, value)`` hands the processor a record of a global view (every partition of a
  ``reads`` topic, from its beginning). No ``process`` or ``tick`` runs before every view was read up
  to its end offsets as of the start.
- ``flush()`` (async, optional) runs before the runtime commits the offsets of what was processed:
  processors that buffer writes to an external system (PostgreSQL) write them there.

State changes made during a call are durable (changelog, then local store) before the input's
offset is committed, and after the call's emits were acknowledged by the broker: a crash replays
the input against state that does not yet hold its effect, or against state that holds it while its
emits are already written — never the effect without the emits.

Async processors (``async def process``) are run concurrently up to ``MAX_IN_FLIGHT`` records, records
of one key in order when ``ORDERED_BY_KEY``; the input is acknowledged once all its records are done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pipeline.dead_letters import Rejected

__all__ = ["Emit", "KeyValueState", "Processor", "Record", "Rejected", "State", "Table"]


@dataclass(slots=True, frozen=True)
class Record:
    """One input record as a processor sees it."""

    key: bytes | None
    # Decoded with the input topic's schema (a pipeline.models record); bytes for topics read raw
    # (alerts.raw: normalize validates it itself). Records handed over inside a chain arrive as the
    # upstream processor emitted them, never encoded.
    value: Any
    port: str = ""           # the input port it came through (a stage with several inputs: the sink)
    partition: int = 0       # of the Kafka record it came in with (the chain's input)
    offset: int = -1
    timestamp: float = 0.0   # that Kafka record's timestamp, seconds since the epoch
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True, frozen=True)
class Emit:
    """A record for one of the stage's output ports."""

    port: str
    key: bytes | None
    value: Any  # a record of the port's topic schema, bytes, or None (a tombstone)
    headers: tuple[tuple[str, bytes], ...] = ()


class KeyValueState(Protocol):
    """One table of a stage, per partition the worker owns; the processor never sees its changelog.

    Values are what the processor stored (records of the table's ``value_type``); keys are bytes.
    """

    def get(self, key: bytes) -> Any | None: ...

    def set(self, key: bytes, value: Any) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, Any]]:
        """Every (key, value) whose key starts with ``prefix``, in key order."""
        ...

    def pop_due(self, now: datetime, limit: int) -> list[bytes]:
        """Keys whose due time (the table's ``due`` of their value) is ``<= now``, earliest first, at
        most ``limit``; they leave the due index until their value is set again."""
        ...

    def next_due(self) -> datetime | None: ...

    def partition_for(self, key: bytes) -> int:
        """The input partition the key's row belongs to."""
        ...

    def __len__(self) -> int: ...


State = Mapping[str, KeyValueState]  # table name -> its state


@dataclass(frozen=True)
class Table:
    """A table a processor keeps: its name in the topology and how its values are stored."""

    name: str
    # The record type of the values (stored as its wire JSON); None: the processor stores bytes.
    value_type: type | None = None
    # When the value next needs the timer (an expiry, a flush), or None; indexed by the store so a
    # tick costs what is due, not what is stored. Maintained on every write and on recovery.
    due: Callable[[Any], datetime | None] | None = None
    # The part of a key that decides its partition, when keys are rows under an entity (a group's
    # alerts: ``<group key>\0<fingerprint>``); None: the whole key.
    partition_key: Callable[[bytes], bytes] | None = None


class Processor:
    """Base of every stage's processor; subclasses set the class attributes they need."""

    STAGE: ClassVar[str] = ""                 # its name in the topology
    OUTPUTS: ClassVar[tuple[str, ...]] = ()   # the ports it may emit to (checked against the topology)
    READS: ClassVar[tuple[str, ...]] = ()     # the ports of its global views
    TABLES: ClassVar[tuple[Table, ...]] = ()
    TICK_INTERVAL_S: ClassVar[float | None] = None
    MAX_IN_FLIGHT: ClassVar[int] = 1          # async processors: records worked on at once
    ORDERED_BY_KEY: ClassVar[bool] = True     # async processors: one key's records one at a time
    # Waits for the event-time watermark (pipeline.runtime.event_time); listed in
    # pipeline.stages.EVENT_TIME_STAGES so upstream chains know to report without importing it.
    WANTS_EVENT_TIME: ClassVar[bool] = False
    # Set by the Kafka runtime on those: partition of the input -> watermark in ms since the epoch
    # (None: not every upstream partition reported yet). Unset (None) where nothing is upstream.
    watermark_ms: Callable[[int], int | None] | None = None

    def process(self, record: Record, state: State, now: datetime) -> Sequence[Emit] | Rejected:
        raise NotImplementedError

    def tick(self, state: State, now: datetime) -> Sequence[Emit]:
        return ()

    def wants_tick(self, now: datetime) -> bool:
        """Whether something came due that the next tick should not wait for (group_wait 0)."""
        return False

    def on_assign(self, partitions: frozenset[int], state: State) -> None:
        pass

    def follow(self, port: str, key: bytes | None, value: bytes | None) -> None:
        raise NotImplementedError(f"{type(self).__name__} reads no global view")

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        """Release clients (HTTP, Redis) at shutdown."""


class ProcessorFactory(Protocol):
    def __call__(self, settings: Any, topology: Any) -> Processor: ...


def stage_ports(processor: type[Processor]) -> Mapping[str, tuple[str, ...]]:
    """What a processor class declares, for the topology check and `pipeline topology describe`."""
    return {"outputs": processor.OUTPUTS, "reads": processor.READS,
            "tables": tuple(t.name for t in processor.TABLES)}
