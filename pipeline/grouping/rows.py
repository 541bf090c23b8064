"""How the group stage lays out its state as rows of its tables (pure: keys and adapters).

- ``group_headers[<group key><route id>]``: an aggregation group's header (AggregationGroup's
  ``header_state``: timing, next flush, flush sequence), due at its next flush;
- ``group_alerts[<group key><route id><fingerprint>]``: one row per alert of the group, so an insert
  writes one row, whatever the group's size (the whole group was rewritten per insert before);
- ``nflog[<group key><integration key>]``: the notification log entry of (group, integration),
  due when it expires (the maintenance run deletes it then, as Alertmanager's every 15 minutes).

Two sibling routes with equal matchers produce equal group keys: Alertmanager keeps their groups
apart by route, and so does the route id in the key (while their log entries are shared, its quirk).
Every key starts with the group key, length-prefixed, which decides its partition: a group's rows
live in the partition of its alerts.routed records and move with them on a rebalance.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import orjson

from pipeline.dedup.codec import datetime_from_state
from pipeline.grouping.nflog import NflogEntry
from pipeline.models import Alert

_LEN = struct.Struct(">I")


def _part(text: str) -> bytes:
    data = text.encode()
    return _LEN.pack(len(data)) + data


def group_key_of(key: bytes) -> bytes:
    """The partition key of every row: the group key (the alerts.routed record key)."""
    (length,) = _LEN.unpack_from(key, 0)
    return key[4:4 + length]


def header_key(group_key: str, route_id: str) -> bytes:
    return _part(group_key) + _part(route_id)


def alert_key(header: bytes, fingerprint: str) -> bytes:
    return header + fingerprint.encode()


def nflog_prefix(group_key: str) -> bytes:
    return _part(group_key)


def nflog_row(group_key: str, integration_key: str) -> bytes:
    return _part(group_key) + integration_key.encode()


class HeaderCodec:
    """Header rows are AggregationGroup.header_state() dicts, as JSON."""

    def encode(self, value: dict[str, Any]) -> bytes:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)

    def decode(self, data: bytes) -> dict[str, Any]:
        return orjson.loads(data)


class GroupHeader(dict):
    """The value type of group_headers (a plain dict; its codec is HeaderCodec)."""

    table_codec = HeaderCodec


def header_due(header: dict[str, Any]):
    return datetime_from_state(header["next_flush_at"])


class NflogCodec:
    def encode(self, value: NflogEntry) -> bytes:
        return orjson.dumps(value.to_state())

    def decode(self, data: bytes) -> NflogEntry:
        return NflogEntry.from_state(orjson.loads(data))


class NflogRow(NflogEntry):
    """The value type of nflog (an NflogEntry; its codec is NflogCodec)."""

    table_codec = NflogCodec


def nflog_due(entry: NflogEntry):
    return entry.expires_at


class RowAlerts:
    """A group's alerts as rows of the group_alerts table (AggregationGroup's GroupAlerts)."""

    __slots__ = ("_table", "_prefix")

    def __init__(self, table, header: bytes):
        self._table, self._prefix = table, header

    def get(self, fingerprint: str) -> Alert | None:
        return self._table.get(self._prefix + fingerprint.encode())

    def put(self, alert: Alert) -> None:
        self._table.set(self._prefix + alert.fingerprint.encode(), alert)

    def remove(self, fingerprint: str) -> None:
        self._table.delete(self._prefix + fingerprint.encode())

    def all(self) -> Iterator[Alert]:
        return (value for _, value in self._table.scan(self._prefix))

    def empty(self) -> bool:
        return next(iter(self._table.scan(self._prefix)), None) is None


def nflog_entries(table, group_key: str) -> dict[str, NflogEntry]:
    """The log entries of a group key, by integration key (what decide_flushes reads)."""
    prefix = nflog_prefix(group_key)
    return {key[len(prefix):].decode(): entry for key, entry in table.scan(prefix)}
