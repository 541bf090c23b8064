"""The Faust table store of the runtime: Faust's extension point (entry point ``faust.stores``,
``store="pipeline://tables"``) over pipeline.runtime.state.

Faust keeps doing what it is good at for tables: the assignor co-partitions each changelog with the
chain's input, and its recovery reads a changelog partition from the store's persisted offset to the
end when the partition is assigned. The values live in the runtime's TableState (memory or RocksDB);
Faust never writes a changelog record for these tables — the worker's checkpoint does, in its order
(emits, then changelogs, then the store with the offsets reached). Direct mapping access through Faust
is not used and refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from faust.stores.base import Store
from faust.types import TP, EventT

ATTRIBUTE = "pipeline_state"  # the TableState hung on the Faust Table before its store is created


class TableStore(Store):
    def __init__(self, url, app, table, **kwargs: Any) -> None:
        super().__init__(url, app, table, **kwargs)
        self.table_state = getattr(table, ATTRIBUTE)

    # -- what Faust's recovery and table manager call --------------------------------------------------
    def persisted_offset(self, tp: TP) -> int | None:
        return self.table_state.backend.persisted_offset(tp.partition)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        # Faust calls this for changelog records it sent itself; it sends none for these tables.
        pass

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key, to_value) -> None:
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
        last: dict[int, int] = {}
        for event in batch:
            message = event.message
            if message.key is None:
                continue  # not a record of ours: a table changelog always has keys
            by_partition.setdefault(message.partition, []).append((message.key, message.value))
            last[message.partition] = message.offset
        for partition, records in by_partition.items():
            self.table_state.restore(partition, records, last[partition])

    def backup_partition(self, tp, flush: bool = True, purge: bool = False, keep: int = 1) -> None:
        pass  # RocksDB backups of Faust's own store; this one's backup is its changelog

    def restore_backup(self, tp, latest: bool = True, backup_id: int = 0) -> None:
        pass

    def reset_state(self) -> None:
        pass  # the backend outlives the process (RocksDB) or the process is new (memory)

    async def on_rebalance(self, assigned, revoked, newly_assigned, generation_id: int = 0) -> None:
        pass  # ownership is set by the worker once recovery completed (TableState.owned)

    async def on_recovery_completed(self, active_tps, standby_tps) -> None:
        pass

    # -- the mapping Faust's Table exposes: not how this runtime's tables are used ---------------------
    def _refuse(self, *_args: Any) -> Any:
        raise TypeError("tables of the pipeline runtime are used through pipeline.runtime.state, not Faust")

    __getitem__ = __setitem__ = __delitem__ = _refuse

    def __iter__(self) -> Iterator:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return False

    def keys(self):
        return iter(())

    def values(self):
        return iter(())

    def items(self):
        return iter(())

    def clear(self) -> None:
        pass
