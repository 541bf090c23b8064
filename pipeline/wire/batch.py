"""Batch records: many keyed records of one partition carried in one Kafka record.

Between the stream stages (alerts.raw … alerts.routed) a Kafka record costs far more in Faust's
runtime than the work done on it (about 80 µs per record, measured; a stage's own work is 25–35 µs
per alert). Writers there pack the records bound for one partition into one *batch record*, and every
reader unpacks it, so that cost is paid per batch instead of per alert. A plain record (one alert,
as direct producers and older writers send) stays valid everywhere: readers take both.

A batch record carries the header ``pipeline-batch: 1`` and no key; its value is

    b"PB1" then, per item:  key length (u32 big-endian, 0xFFFFFFFF for no key), key,
                            value length (u32 big-endian), value

Every item keeps exactly the bytes it would have as a record of its own, and every item's key maps to
the batch's partition with the producers' partitioner (Kafka's murmur2), so keyed state (Faust tables,
co-partitioned topics) sees the same partitioning as with one record per item. Items carry no headers:
records that need headers (dead letters, retries) are written as plain records.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pipeline.wire.errors import WireError

# The topics between the stream stages, written as batch records by the bridge and the stages. The
# others stay one record each: alerts.state and silences are compacted by key, alerts.enriched is read
# by consumers outside the pipeline, notifications carry retry headers per record.
BATCHED_TOPICS = frozenset({"alerts.raw", "alerts.normalized", "alerts.deduped", "alerts.classified",
                            "alerts.marked", "alerts.muted", "alerts.routed"})
BATCH_HEADER = "pipeline-batch"
BATCH_HEADER_VALUE = b"1"
BATCH_HEADERS = [(BATCH_HEADER, BATCH_HEADER_VALUE)]
# Which item of a batch a dead letter was (its offset is the batch's).
ITEM_INDEX_HEADER = "pipeline.batch.index"
MAGIC = b"PB1"
# Writers keep a batch under this: well below the stream topics' max.message.bytes (1 MiB default).
MAX_BATCH_BYTES = 512 * 1024
_NO_KEY = 0xFFFFFFFF
_LEN = struct.Struct(">I")

Item = tuple["bytes | None", bytes]


def is_batch(headers) -> bool:
    """Whether a record's headers (a list of pairs or a dict, as the Kafka clients give them) mark a batch."""
    if not headers:
        return False
    if isinstance(headers, dict):
        return headers.get(BATCH_HEADER) == BATCH_HEADER_VALUE
    return any(name == BATCH_HEADER and value == BATCH_HEADER_VALUE for name, value in headers)


def item_size(key: bytes | None, value: bytes) -> int:
    """What one item adds to a batch record's value."""
    return 8 + len(key or b"") + len(value)


def pack(items: Sequence[Item]) -> bytes:
    """One batch record value for ``items`` [(key, value)]."""
    parts = [MAGIC]
    append, length = parts.append, _LEN.pack
    for key, value in items:
        if key is None:
            append(length(_NO_KEY))
        else:
            append(length(len(key)))
            append(key)
        append(length(len(value)))
        append(value)
    return b"".join(parts)


def pack_by_partition(keys: Sequence[bytes | None], values: Sequence[bytes], partitions: int,
                      max_bytes: int = MAX_BATCH_BYTES) -> list[tuple[int, bytes]]:
    """(partition, batch record value) for records of one topic, each batch under ``max_bytes``
    (a record larger than that travels as a batch of one)."""
    from pipeline.runtime.partitioning import partition_of

    grouped: dict[int, list[list[Item]]] = {}
    sizes: dict[int, int] = {}
    for key, value in zip(keys, values, strict=True):
        partition = partition_of(key, partitions)
        size = item_size(key, value)
        chunks = grouped.setdefault(partition, [[]])
        if chunks[-1] and sizes[partition] + size > max_bytes:
            chunks.append([])
            sizes[partition] = 0
        chunks[-1].append((key, value))
        sizes[partition] = sizes.get(partition, 0) + size
    return [(partition, pack(chunk)) for partition, chunks in grouped.items() for chunk in chunks]


def unpack(data: bytes | None) -> list[Item]:
    """The items of a batch record value; WireError naming the problem if it is not one."""
    if data is None:
        raise WireError("batch record has no value")
    if data[:3] != MAGIC:
        raise WireError(f"batch record does not start with {MAGIC!r}")
    items: list[Item] = []
    view = memoryview(data)
    at, end = 3, len(data)
    unpack_length = _LEN.unpack_from
    while at < end:
        if at + 4 > end:
            raise WireError(f"batch record truncated in item {len(items)} (key length)")
        (key_len,) = unpack_length(data, at)
        at += 4
        if key_len == _NO_KEY:
            key = None
        else:
            if at + key_len > end:
                raise WireError(f"batch record truncated in item {len(items)} (key)")
            key = bytes(view[at:at + key_len])
            at += key_len
        if at + 4 > end:
            raise WireError(f"batch record truncated in item {len(items)} (value length)")
        (value_len,) = unpack_length(data, at)
        at += 4
        if at + value_len > end:
            raise WireError(f"batch record truncated in item {len(items)} (value)")
        items.append((key, bytes(view[at:at + value_len])))
        at += value_len
    return items


def items_of(key: bytes | None, value: bytes | None, headers) -> list[tuple[bytes | None, bytes | None]]:
    """The records a Kafka record stands for: its items when it is a batch, else itself."""
    if is_batch(headers):
        return unpack(value)
    return [(key, value)]
