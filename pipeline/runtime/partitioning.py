"""Which partition a keyed record lands in: Kafka's murmur2, as every producer of this project uses
(librdkafka's ``murmur2_random``, aiokafka's default, Java's), so a key meets its table partition."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2

_CACHE_LIMIT = 200_000
_hashes: dict[bytes, int] = {}  # murmur2 is pure Python (~5 µs); keys (fingerprints, group keys) repeat


def partition_of(key: bytes | None, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``; a record without a key goes to any partition."""
    if key is None:
        return random.randrange(partitions)
    hashed = _hashes.get(key)
    if hashed is None:
        if len(_hashes) >= _CACHE_LIMIT:
            _hashes.clear()
        hashed = _hashes[key] = murmur2(key) & 0x7FFFFFFF
    return hashed % partitions
