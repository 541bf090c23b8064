"""The state a processor is given: key-value tables over a store, with a write overlay and a due index.

A ``TableState`` is one table of one stage in one worker, across the partitions it owns. Writes land
in an in-memory *overlay*; the runtime's checkpoint (pipeline.runtime.checkpoint) then

1. freezes the overlay (``freeze``) once every record the stage emitted before is on the broker,
2. writes the frozen changes to the table's changelog and waits for the broker's acknowledgement,
3. writes them to the store together with the changelog offsets reached (``commit``).

So the local store never holds a change its changelog does not, and a change is never logged
before the emits it caused: after a crash, a replayed input meets state without its effect (and
does it again) or with it (its emits are on the broker). Reads see the overlay first, then the store.

The *due index* (``Table.due``) orders keys by when their value needs the timer; it lives in the
store next to the values (a RocksDB store holds a million alerts' expiry times on disk), is
maintained on every write and on recovery, and ``pop_due`` takes what is due without scanning the
table. Keys are stored per partition (recovery, revocation and ticks are per partition).

Backends: ``MemoryBackend`` (tests, ``memory://``; recovered from the changelog at every start) and
``RocksBackend`` (``rocksdb://``: one RocksDB per worker, write-ahead log off because the changelog
is the log, small memtables and one shared block cache).
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from sortedcontainers import SortedDict

from pipeline import wire
from pipeline.runtime.partitioning import partition_of
from pipeline.stages.processor import Table

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")


def to_micros(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    from datetime import timedelta

    return _EPOCH + timedelta(microseconds=micros)


class _Deleted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DELETED"


DELETED = _Deleted()       # overlay: the key was deleted
_KEEP = object()           # overlay: the value is unchanged, only its due entry changed (pop_due)


class Codec(Protocol):
    def encode(self, value: Any) -> bytes: ...
    def decode(self, data: bytes) -> Any: ...


class RecordCodec:
    """A table of wire records: stored as their JSON (so a changelog reads like the topics)."""

    def __init__(self, record_type: type):
        self.record_type = record_type

    def encode(self, value: Any) -> bytes:
        return wire.encode(value)

    def decode(self, data: bytes) -> Any:
        return wire.decode(self.record_type, data)


class BytesCodec:
    def encode(self, value: bytes) -> bytes:
        return value

    def decode(self, data: bytes) -> bytes:
        return data


def codec_for(table: Table) -> Codec:
    if table.value_type is None:
        return BytesCodec()
    custom = getattr(table.value_type, "table_codec", None)  # a state record with its own encoding
    return custom() if custom is not None else RecordCodec(table.value_type)


# -- backends -----------------------------------------------------------------------------------------

@dataclass(slots=True)
class Change:
    partition: int
    key: bytes
    value: bytes | None          # encoded; None: deleted
    due: int | None              # micros; None: not indexed
    value_changed: bool = True   # False: only the due entry changes (nothing to log)


class Backend(Protocol):
    """The store under one table: encoded values, their due index, changelog offsets; per partition."""

    def get(self, partition: int, key: bytes) -> bytes | None: ...
    def scan(self, partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def due_until(self, partition: int, until: int) -> Iterator[tuple[int, bytes]]: ...
    def first_due(self, partition: int) -> int | None: ...
    def write(self, changes: Iterable[Change], offsets: dict[int, int]) -> None: ...
    def persisted_offset(self, partition: int) -> int | None: ...
    def count(self, partition: int) -> int: ...
    def drop(self, partition: int) -> None: ...


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key above every key that starts with ``prefix``; None when there is none (an
    empty prefix, or one of 0xff bytes only)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class MemoryBackend:
    """Everything in dicts: for tests and ``memory://`` (the changelog restores it at every start;
    offsets are kept for the life of the process, so a partition that comes back after a rebalance
    only reads what it missed)."""

    def __init__(self) -> None:
        self._data: dict[int, SortedDict] = {}
        self._due: dict[int, SortedDict] = {}     # (due, key) -> None
        self._due_of: dict[int, dict[bytes, int]] = {}
        self._offsets: dict[int, int] = {}

    def _part(self, partition: int) -> tuple[SortedDict, SortedDict, dict[bytes, int]]:
        data = self._data.get(partition)
        if data is None:
            data = self._data[partition] = SortedDict()
            self._due[partition] = SortedDict()
            self._due_of[partition] = {}
        return data, self._due[partition], self._due_of[partition]

    def get(self, partition: int, key: bytes) -> bytes | None:
        data = self._data.get(partition)
        return None if data is None else data.get(key)

    def scan(self, partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        data = self._data.get(partition)
        if not data:
            return
        # Bounded above: a scan costs the keys under the prefix, not every key after it in the
        # partition (the group stage scans a group's rows at every insert and flush). The keys are
        # listed first so that the caller may write to the table while it iterates.
        end = _prefix_end(prefix)
        for key in list(data.irange(minimum=prefix, maximum=end, inclusive=(True, False))):
            yield key, data[key]

    def due_until(self, partition: int, until: int) -> Iterator[tuple[int, bytes]]:
        due = self._due.get(partition)
        if not due:
            return
        for when, key in list(due.irange(maximum=(until, b"\xff" * 8))):
            if when > until:
                return
            yield when, key

    def first_due(self, partition: int) -> int | None:
        due = self._due.get(partition)
        return due.peekitem(0)[0][0] if due else None

    def write(self, changes: Iterable[Change], offsets: dict[int, int]) -> None:
        for change in changes:
            data, due, due_of = self._part(change.partition)
            if change.value_changed:
                if change.value is None:
                    data.pop(change.key, None)
                else:
                    data[change.key] = change.value
            old = due_of.pop(change.key, None)
            if old is not None:
                due.pop((old, change.key), None)
            if change.due is not None:
                due[(change.due, change.key)] = None
                due_of[change.key] = change.due
        self._offsets.update(offsets)

    def persisted_offset(self, partition: int) -> int | None:
        return self._offsets.get(partition)

    def count(self, partition: int) -> int:
        return len(self._data.get(partition) or ())

    def drop(self, partition: int) -> None:
        for part in (self._data, self._due, self._due_of):
            part.pop(partition, None)
        self._offsets.pop(partition, None)


class RocksStore:
    """One RocksDB per worker (its data dir), shared by the worker's tables.

    Key layout (one column family, so a checkpoint's batch is atomic without the WAL):
    ``d <table> 0 <partition u16> <key>`` → value, ``t <table> 0 <partition> <due u64> <key>`` → "",
    ``r <table> 0 <partition> <key>`` → due, ``o <table> 0 <partition>`` → changelog offset.
    """

    def __init__(self, path: Path, *, block_cache_bytes: int = 32 << 20, write_buffer_bytes: int = 8 << 20):
        from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteOptions

        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_size(write_buffer_bytes)
        options.set_max_write_buffer_number(2)
        options.set_max_open_files(256)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(block_cache_bytes))
        table.set_cache_index_and_filter_blocks(True)
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        self._db = Rdict(str(path), options)
        self._no_wal = WriteOptions()
        self._no_wal.disable_wal = True
        self._db.set_write_options(self._no_wal)
        self.path = path

    def table(self, name: str) -> RocksBackend:
        return RocksBackend(self, name.encode())

    def flush(self) -> None:
        """Memtables to disk (clean shutdown: the next start recovers nothing)."""
        self._db.flush(True)

    def close(self) -> None:
        self._db.close()


class RocksBackend:
    def __init__(self, store: RocksStore, name: bytes):
        self._db = store._db
        self._store = store
        self._name = name + b"\x00"

    def _p(self, kind: bytes, partition: int) -> bytes:
        return kind + self._name + _U16.pack(partition)

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self._db.get(self._p(b"d", partition) + key)

    def _iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        it.seek(prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                return
            yield key, it.value()
            it.next()

    def scan(self, partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        base = self._p(b"d", partition)
        cut = len(base)
        for key, value in self._iter_prefix(base + prefix):
            yield key[cut:], value

    def due_until(self, partition: int, until: int) -> Iterator[tuple[int, bytes]]:
        base = self._p(b"t", partition)
        cut = len(base)
        for key, _ in self._iter_prefix(base):
            (when,) = _U64.unpack_from(key, cut)
            if when > until:
                return
            yield when, key[cut + 8:]

    def first_due(self, partition: int) -> int | None:
        for when, _ in self.due_until(partition, (1 << 64) - 1):
            return when
        return None

    def write(self, changes: Iterable[Change], offsets: dict[int, int]) -> None:
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        db = self._db
        # due entries as this batch leaves them (a key may change twice in one batch: recovery)
        reverse_now: dict[bytes, bytes | None] = {}
        for change in changes:
            reverse = self._p(b"r", change.partition) + change.key
            old = reverse_now[reverse] if reverse in reverse_now else db.get(reverse)
            if old is not None:
                batch.delete(self._p(b"t", change.partition) + old + change.key)
                batch.delete(reverse)
            if change.value_changed:
                data_key = self._p(b"d", change.partition) + change.key
                if change.value is None:
                    batch.delete(data_key)
                else:
                    batch.put(data_key, change.value)
            if change.due is not None:
                due = _U64.pack(change.due)
                batch.put(self._p(b"t", change.partition) + due + change.key, b"")
                batch.put(reverse, due)
                reverse_now[reverse] = due
            else:
                reverse_now[reverse] = None
        for partition, offset in offsets.items():
            batch.put(self._p(b"o", partition), _U64.pack(offset))
        db.write(batch, self._store._no_wal)

    def persisted_offset(self, partition: int) -> int | None:
        raw = self._db.get(self._p(b"o", partition))
        return None if raw is None else _U64.unpack(raw)[0]

    def count(self, partition: int) -> int:
        return sum(1 for _ in self._iter_prefix(self._p(b"d", partition)))

    def drop(self, partition: int) -> None:
        for kind in (b"d", b"t", b"r", b"o"):
            start = self._p(kind, partition)
            self._db.delete_range(start, start + b"\xff" * 64)


# -- the state a processor sees ------------------------------------------------------------------------

@dataclass(slots=True)
class _Entry:
    value: Any          # the record, DELETED, or _KEEP
    due: int | None


@dataclass
class Frozen:
    """A checkpoint's share of one table: what goes to the changelog, then to the store."""

    table: TableState
    entries: dict[tuple[int, bytes], _Entry]
    changes: list[Change] = field(default_factory=list)

    def changelog(self) -> list[Change]:
        return [c for c in self.changes if c.value_changed]


class TableState:
    """One table of a stage across the partitions this worker owns (see the module docstring)."""

    def __init__(self, spec: Table, backend: Backend, partitions: int):
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self.partitions = partitions
        self.codec = codec_for(spec)
        self._due_of = spec.due
        self._partition_key = spec.partition_key
        self.owned: frozenset[int] = frozenset()
        self.partition: int | None = None  # set by the runtime around process(): the record's partition
        self._current: dict[tuple[int, bytes], _Entry] = {}
        self._frozen: list[dict[tuple[int, bytes], _Entry]] = []
        self._overlay_due: list[tuple[int, int, bytes]] = []   # heap (due, partition, key)
        self._by_entity: dict[tuple[int, bytes], set[bytes]] = {}  # overlay keys under an entity (scan)

    # -- where a key lives --------------------------------------------------------------------------
    def partition_for(self, key: bytes) -> int:
        if self.partition is not None:
            return self.partition
        entity = self._partition_key(key) if self._partition_key else key
        return partition_of(entity, self.partitions)

    def _entry(self, slot: tuple[int, bytes]) -> _Entry | None:
        entry = self._current.get(slot)
        if entry is not None:
            return entry
        for frozen in reversed(self._frozen):
            entry = frozen.get(slot)
            if entry is not None:
                return entry
        return None

    def _overlay_value(self, slot: tuple[int, bytes]) -> Any:
        """The overlay's value for a slot (DELETED included), or _KEEP when the store's stands."""
        entry = self._current.get(slot)
        if entry is not None and entry.value is not _KEEP:
            return entry.value
        for frozen in reversed(self._frozen):
            entry = frozen.get(slot)
            if entry is not None and entry.value is not _KEEP:
                return entry.value
        return _KEEP

    # -- KeyValueState ------------------------------------------------------------------------------
    def get(self, key: bytes) -> Any | None:
        partition = self.partition_for(key)
        value = self._overlay_value((partition, key))
        if value is not _KEEP:
            return None if value is DELETED else value
        raw = self.backend.get(partition, key)
        return None if raw is None else self.codec.decode(raw)

    def set(self, key: bytes, value: Any) -> None:
        if value is None:
            raise ValueError(f"table {self.name}: set() needs a value; delete() removes a key")
        self._write(key, value, self._due_of(value) if self._due_of else None)

    def delete(self, key: bytes) -> None:
        self._write(key, DELETED, None)

    def _write(self, key: bytes, value: Any, due: datetime | None) -> None:
        partition = self.partition_for(key)
        micros = to_micros(due) if due is not None else None
        self._current[(partition, key)] = _Entry(value, micros)
        if micros is not None:
            heapq.heappush(self._overlay_due, (micros, partition, key))
        if self._partition_key is not None:
            self._by_entity.setdefault((partition, self._partition_key(key)), set()).add(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, Any]]:
        """Every (key, value) under ``prefix``, in key order. ``prefix`` must lie within one entity
        (``Table.partition_key``): a scan reads one partition."""
        partition = self.partition_for(prefix)
        if self._partition_key is not None:
            keys = self._by_entity.get((partition, self._partition_key(prefix)), ())
        else:
            keys = {k for (p, k) in self._overlay_slots() if p == partition}
        overlay: dict[bytes, Any] = {}
        for key in keys:
            if key.startswith(prefix):
                value = self._overlay_value((partition, key))
                if value is not _KEEP:
                    overlay[key] = value
        decode = self.codec.decode
        stored = ((k, decode(v)) for k, v in self.backend.scan(partition, prefix) if k not in overlay)
        fresh = ((k, v) for k, v in sorted(overlay.items()) if v is not DELETED)
        yield from heapq.merge(stored, fresh, key=lambda kv: kv[0])

    def _overlay_slots(self) -> set[tuple[int, bytes]]:
        slots = set(self._current)
        for frozen in self._frozen:
            slots.update(frozen)
        return slots

    def _live(self, when: int, partition: int, key: bytes, from_overlay: bool) -> bool:
        """Whether a due entry still stands: the overlay's entry decides for keys it holds; an
        overlay heap entry for a key the overlay no longer holds is superseded by the store's."""
        if partition not in self.owned:
            return False
        entry = self._entry((partition, key))
        if entry is None:
            return not from_overlay
        return entry.due == when

    def _stored_due(self, partition: int, until: int) -> Iterator[tuple[int, int, bytes, bool]]:
        for when, key in self.backend.due_until(partition, until):
            yield when, partition, key, False

    def pop_due(self, now: datetime, limit: int) -> list[bytes]:
        until = to_micros(now)
        popped: list[tuple[int, int, bytes, bool]] = []
        while self._overlay_due and self._overlay_due[0][0] <= until:
            when, partition, key = heapq.heappop(self._overlay_due)
            popped.append((when, partition, key, True))
        stored = [self._stored_due(partition, until) for partition in sorted(self.owned)]
        taken: list[bytes] = []
        seen: set[tuple[int, bytes]] = set()
        for when, partition, key, from_overlay in heapq.merge(iter(popped), *stored):
            if len(taken) >= limit:
                break
            slot = (partition, key)
            if slot in seen or not self._live(when, partition, key, from_overlay):
                continue
            seen.add(slot)
            taken.append(key)
            entry = self._current.get(slot)
            if entry is not None:
                entry.due = None          # out of the index until it is set again
            else:
                self._current[slot] = _Entry(_KEEP, None)
        for when, partition, key, _ in popped:  # beyond the limit: back for the next tick
            if (partition, key) not in seen:
                heapq.heappush(self._overlay_due, (when, partition, key))
        return taken

    def next_due(self) -> datetime | None:
        best: int | None = None
        while self._overlay_due:
            when, partition, key = self._overlay_due[0]
            if self._live(when, partition, key, True):
                best = when
                break
            heapq.heappop(self._overlay_due)
        for partition in self.owned:
            for when, key in self.backend.due_until(partition, best if best is not None else (1 << 64) - 1):
                if self._live(when, partition, key, False):
                    best = when if best is None else min(best, when)
                    break
        return None if best is None else from_micros(best)

    def __len__(self) -> int:
        return sum(self.backend.count(p) for p in self.owned)

    # -- the runtime's side -----------------------------------------------------------------------------
    def dirty(self) -> int:
        return len(self._current)

    def freeze(self) -> Frozen:
        """Take the overlay's changes into a checkpoint (reads keep seeing them until ``commit``)."""
        entries, self._current = self._current, {}
        self._frozen.append(entries)
        frozen = Frozen(self, entries)
        encode = self.codec.encode
        for (partition, key), entry in entries.items():
            if entry.value is _KEEP:
                frozen.changes.append(Change(partition, key, None, entry.due, value_changed=False))
            elif entry.value is DELETED:
                frozen.changes.append(Change(partition, key, None, None))
            else:
                frozen.changes.append(Change(partition, key, encode(entry.value), entry.due))
        return frozen

    def commit(self, frozen: Frozen, offsets: dict[int, int]) -> None:
        """The frozen changes are in the changelog (up to ``offsets``): write them to the store."""
        self.backend.write(frozen.changes, offsets)
        self._frozen.remove(frozen.entries)
        if self._partition_key is not None:
            for partition, key in frozen.entries:
                if self._entry((partition, key)) is None:
                    entity = (partition, self._partition_key(key))
                    keys = self._by_entity.get(entity)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del self._by_entity[entity]

    def restore(self, partition: int, records: Iterable[tuple[bytes, bytes | None]], offset: int) -> None:
        """Changelog records read back (recovery): straight to the store, with their due entries."""
        changes = []
        for key, value in records:
            if value is None:
                changes.append(Change(partition, key, None, None))
                continue
            due = None
            if self._due_of is not None:
                when = self._due_of(self.codec.decode(value))
                due = to_micros(when) if when is not None else None
            changes.append(Change(partition, key, value, due))
        self.backend.write(changes, {partition: offset})


Due = Callable[[Any], datetime | None]
