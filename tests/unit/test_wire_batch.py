"""Batch records (pipeline.wire.batch): framing, partition grouping, and what readers make of them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.runtime.partitioning import partition_of
from pipeline.wire.batch import (BATCH_HEADERS, MAGIC, is_batch, items_of, pack, pack_by_partition,
                                 unpack)
from pipeline.wire.errors import WireError

keys = st.one_of(st.none(), st.binary(max_size=40))
items = st.lists(st.tuples(keys, st.binary(max_size=300)), max_size=30)


@given(items)
def test_pack_then_unpack_gives_the_items_back(batch):
    assert unpack(pack(batch)) == batch


def test_an_empty_key_and_no_key_stay_apart():
    assert unpack(pack([(b"", b"v"), (None, b"w")])) == [(b"", b"v"), (None, b"w")]


@pytest.mark.parametrize("cut", [1, 3, 5, 9, 12])
def test_a_truncated_batch_is_a_wire_error_naming_the_item(cut):
    data = pack([(b"key", b"value"), (b"k2", b"v2")])
    with pytest.raises(WireError, match="truncated|does not start"):
        unpack(data[:-cut] if cut < 12 else data[:2])


def test_a_value_that_is_not_a_batch_is_refused():
    with pytest.raises(WireError, match="does not start with"):
        unpack(b'{"labels": {}}')
    with pytest.raises(WireError, match="no value"):
        unpack(None)


def test_only_the_header_makes_a_batch():
    assert is_batch(BATCH_HEADERS)
    assert is_batch({"pipeline-batch": b"1"})
    assert not is_batch([("pipeline-batch", b"0")])
    assert not is_batch(None)
    # A plain record whose value happens to start like a batch is still a plain record.
    assert items_of(b"k", MAGIC + b"xyz", []) == [(b"k", MAGIC + b"xyz")]
    assert items_of(None, pack([(b"a", b"1")]), BATCH_HEADERS) == [(b"a", b"1")]


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=100)), max_size=60))
def test_pack_by_partition_puts_every_item_in_its_keys_partition_in_order(records):
    keys_, values = [k for k, _ in records], [v for _, v in records]
    batches = pack_by_partition(keys_, values, 6, max_bytes=400)
    seen: list[tuple[bytes, bytes]] = []
    for partition, value in batches:
        for key, item in unpack(value):
            assert partition_of(key, 6) == partition
            seen.append((key, item))
    assert sorted(seen) == sorted(records)
    for partition in range(6):  # per partition (so per key) the order is the writer's
        expected = [r for r in records if partition_of(r[0], 6) == partition]
        got = [i for p, v in batches if p == partition for i in unpack(v)]
        assert got == expected


def test_pack_by_partition_splits_at_the_size_limit():
    values = [b"x" * 100] * 10
    batches = pack_by_partition([b"same"] * 10, values, 6, max_bytes=350)
    assert len(batches) == 4  # 3 + 3 + 3 + 1 items of 112 bytes each
    assert sum(len(unpack(v)) for _, v in batches) == 10
