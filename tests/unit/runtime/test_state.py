"""TableState: the overlay over a store, the due index, freeze/commit and recovery, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.runtime.state import MemoryBackend, RocksStore, TableState, from_micros, to_micros
from pipeline.stages.processor import Table

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def due_of(value: bytes):
    # values are b"<seconds after T0>" or b"-" (no due time)
    return None if value == b"-" else T0 + timedelta(seconds=int(value))


@pytest.fixture(params=["memory", "rocksdb"])
def backend_factory(request, tmp_path):
    if request.param == "memory":
        backend = MemoryBackend()
        yield lambda: backend
    else:
        store = RocksStore(tmp_path / "db")
        backend = store.table("t")
        yield lambda: backend
        store.close()


def table(backend, partition_key=None, partitions=4) -> TableState:
    state = TableState(Table("t", None, due=due_of, partition_key=partition_key), backend, partitions)
    state.owned = frozenset(range(partitions))
    return state


def checkpoint(state: TableState, offset: int = 0) -> list:
    frozen = state.freeze()
    logged = frozen.changelog()
    state.commit(frozen, {p: offset for p in state.owned})
    return logged


def test_reads_see_the_overlay_then_the_store(backend_factory):
    state = table(backend_factory())
    state.set(b"a", b"5")
    assert state.get(b"a") == b"5"
    frozen = state.freeze()
    state.set(b"a", b"7")           # a write while the checkpoint is under way
    assert state.get(b"a") == b"7"
    state.commit(frozen, {})
    assert state.get(b"a") == b"7"
    assert [c.value for c in checkpoint(state)] == [b"7"]
    state.delete(b"a")
    assert state.get(b"a") is None
    checkpoint(state)
    assert state.get(b"a") is None and state.backend.get(state.partition_for(b"a"), b"a") is None


def test_due_keys_pop_once_earliest_first_and_come_back_when_set_again(backend_factory):
    state = table(backend_factory())
    for key, seconds in ((b"late", b"30"), (b"early", b"10"), (b"never", b"-"), (b"mid", b"20")):
        state.set(key, seconds)
    checkpoint(state)
    state.set(b"mid", b"40")        # moved in the overlay: its stored due entry is stale
    assert state.next_due() == T0 + timedelta(seconds=10)
    assert state.pop_due(T0 + timedelta(seconds=35), limit=10) == [b"early", b"late"]
    assert state.pop_due(T0 + timedelta(seconds=35), limit=10) == []
    state.set(b"early", b"12")
    assert state.pop_due(T0 + timedelta(seconds=100), limit=1) == [b"early"]
    assert state.pop_due(T0 + timedelta(seconds=100), limit=10) == [b"mid"]
    checkpoint(state)               # the popped keys stay out of the index in the store too
    assert state.pop_due(T0 + timedelta(seconds=100), limit=10) == []
    assert state.next_due() is None


def test_pop_due_respects_its_limit_and_keeps_the_rest(backend_factory):
    state = table(backend_factory())
    for i in range(10):
        state.set(f"k{i}".encode(), str(i).encode())
    first = state.pop_due(T0 + timedelta(seconds=100), limit=3)
    checkpoint(state)
    for i in range(10, 15):
        state.set(f"k{i}".encode(), str(i).encode())
    rest = state.pop_due(T0 + timedelta(seconds=100), limit=100)
    assert first == [b"k0", b"k1", b"k2"]
    assert rest == [f"k{i}".encode() for i in range(3, 15)]


def test_scan_merges_overlay_and_store_in_key_order_within_an_entity(backend_factory):
    entity = lambda key: key.split(b"/")[0]  # noqa: E731 - rows under an entity
    state = table(backend_factory(), partition_key=entity)
    for key in (b"g1/b", b"g1/d", b"g2/a"):
        state.set(key, b"-")
    checkpoint(state)
    state.set(b"g1/c", b"-")
    state.delete(b"g1/d")
    state.set(b"g1/a", b"-")
    assert [k for k, _ in state.scan(b"g1/")] == [b"g1/a", b"g1/b", b"g1/c"]
    checkpoint(state)
    assert [k for k, _ in state.scan(b"g1/")] == [b"g1/a", b"g1/b", b"g1/c"]
    assert state.partition_for(b"g1/a") == state.partition_for(b"g1/zz")


@pytest.mark.parametrize("prefix", [b"g1/", b"g\xff", b"\xff\xff", b"g1/\xff"])
def test_scan_of_the_store_yields_the_keys_under_the_prefix_and_no_other(backend_factory, prefix):
    state = table(backend_factory(), partition_key=lambda key: b"one", partitions=1)
    neighbours = [prefix[:-1], prefix + b"\x00", prefix + b"a", prefix + b"\xff", prefix + b"\xff\xff",
                  prefix[:-1] + bytes([prefix[-1] - 1]) + b"\xff", b"\xff" * 6, b"a", b"g2/a"]
    for key in neighbours:
        state.set(key, b"-")
    checkpoint(state)
    expected = sorted(k for k in set(neighbours) if k.startswith(prefix))
    assert [k for k, _ in state.scan(prefix)] == expected
    assert expected  # the case has keys under the prefix, and keys beyond it on both sides


def test_restore_writes_values_and_their_due_entries_and_the_offset(backend_factory):
    backend = backend_factory()
    state = table(backend, partitions=1)
    state.restore(0, [(b"a", b"10"), (b"b", b"5"), (b"a", None), (b"c", b"-")], offset=41)
    assert state.get(b"a") is None and state.get(b"b") == b"5"
    assert backend.persisted_offset(0) == 41
    assert state.pop_due(T0 + timedelta(seconds=60), limit=10) == [b"b"]


def test_only_owned_partitions_come_due(backend_factory):
    state = table(backend_factory(), partitions=4)
    keys = [f"k{i}".encode() for i in range(40)]
    for key in keys:
        state.set(key, b"1")
    checkpoint(state)
    state.owned = frozenset({0})
    due = state.pop_due(T0 + timedelta(seconds=5), limit=100)
    assert due and all(state.partition_for(k) == 0 for k in due)


def test_micros_round_trip():
    when = datetime(2030, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert from_micros(to_micros(when)) == when
