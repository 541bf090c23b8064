"""Daily partitions of the history tables: created ahead, archived after the retention, dropped later.

Every time-series table (``TABLES``) is range-partitioned by day (UTC) on its time column, one
partition per day named ``<table>_pYYYYMMDD``. Maintenance (the history stage every
``history.maintenance_interval_s``, or ``pipeline history maintain`` from cron):

1. creates the partitions of today and ``partitions_ahead_days`` days ahead (the writer also creates
   the partition of any day it meets that is within the retention and not too far ahead);
2. archives every partition whose whole day is older than ``retention_days``: it is detached from the
   live table, loses its secondary indexes (GIN and friends; the primary key stays, so an archived
   alert's timeline is still an index scan) and is attached to ``<table>_archive`` — no row is copied;
3. drops archive partitions older than ``archive_retention_days`` (0: never), summaries of alerts
   whose last change is older than the retention, and hourly firing counts older than it.

DDL runs under a transaction-level advisory lock, so several writers and a cron job never race, and
with a ``lock_timeout``: a detach waits for in-flight writes of that table at most that long and is
retried at the next run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import psycopg
from psycopg import sql

from pipeline.settings import HistorySettings

# table -> its partitioning column
TABLES: dict[str, str] = {
    "alert_changes": "at",
    "notifications": "created_at",
    "delivery_outcomes": "at",
}
ARCHIVE_SUFFIX = "_archive"
_LOCK_KEY = 0x686973746F7279  # "history": pg_advisory_xact_lock key of every partition DDL
_SUFFIX = re.compile(r"_p(\d{8})$")
LOCK_TIMEOUT = "5s"
SUMMARY_DELETE_BATCH = 10000


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def day_of(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


# The partitions of a parent table (one parameter: its name), in the current schema.
PARTITIONS_SQL = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                  "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s "
                  "AND p.relnamespace = current_schema()::regnamespace")


def parse_days(names) -> dict[date, str]:
    days = {}
    for name in names:
        found = _SUFFIX.search(name)
        if found:
            days[datetime.strptime(found.group(1), "%Y%m%d").date()] = name
    return days


def _create_sql(table: str, day: date) -> sql.Composed:
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(partition_name(table, day)), sql.Identifier(table),
        sql.Literal(day_start(day)), sql.Literal(day_start(day + timedelta(days=1))))


async def ensure_partitions_async(conn: psycopg.AsyncConnection, wanted: dict[str, set[date]]) -> None:
    """Create the missing partitions in ``wanted`` ({table: days}) in one short transaction."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for table, days in wanted.items():
            for day in sorted(days):
                await conn.execute(_create_sql(table, day))


async def live_days_async(conn: psycopg.AsyncConnection) -> dict[str, set[date]]:
    found = {}
    for table in TABLES:
        cursor = await conn.execute(PARTITIONS_SQL, (table,))
        found[table] = set(parse_days(row[0] for row in await cursor.fetchall()))
    return found


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    summaries_deleted: int = 0
    postponed: list[str] = field(default_factory=list)  # could not take a lock in time; next run

    def lines(self) -> list[str]:
        out = [f"created {name}" for name in self.created]
        out += [f"archived {name}" for name in self.archived]
        out += [f"dropped {name}" for name in self.dropped]
        out += [f"postponed {name} (lock not granted within {LOCK_TIMEOUT}; next run)" for name in self.postponed]
        if self.summaries_deleted:
            out.append(f"deleted {self.summaries_deleted} alert summaries older than the retention")
        return out


def retention_horizon(history: HistorySettings, now: datetime) -> date:
    """The first day kept in the live tables."""
    return day_of(now) - timedelta(days=history.retention_days)


def maintain(conn: psycopg.Connection, history: HistorySettings, now: datetime) -> MaintenanceReport:
    """One maintenance pass (see the module docstring); ``conn`` in autocommit mode."""
    report = MaintenanceReport()
    today = day_of(now)
    horizon = retention_horizon(history, now)
    for table in TABLES:
        live = parse_days(row[0] for row in conn.execute(PARTITIONS_SQL, (table,)))
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            for offset in range(history.partitions_ahead_days + 1):
                day = today + timedelta(days=offset)
                if day not in live:
                    conn.execute(_create_sql(table, day))
                    report.created.append(partition_name(table, day))
        for day, name in sorted(live.items()):
            if day >= horizon:
                continue
            try:
                _archive(conn, table, name, day)
                report.archived.append(name)
            except psycopg.errors.LockNotAvailable:
                report.postponed.append(name)
        if history.archive_retention_days:
            archive = table + ARCHIVE_SUFFIX
            archive_horizon = today - timedelta(days=history.retention_days + history.archive_retention_days)
            archived = parse_days(row[0] for row in conn.execute(PARTITIONS_SQL, (archive,)))
            for day, name in sorted(archived.items()):
                if day < archive_horizon:
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                    report.dropped.append(name)
    while True:
        deleted = conn.execute(
            "DELETE FROM alert_summaries WHERE fingerprint IN (SELECT fingerprint FROM alert_summaries "
            "WHERE last_change_at < %s LIMIT %s)", (day_start(horizon), SUMMARY_DELETE_BATCH)).rowcount
        report.summaries_deleted += deleted
        if deleted < SUMMARY_DELETE_BATCH:
            break
    while conn.execute(
            "DELETE FROM alert_firings_hourly WHERE (hour, fingerprint) IN (SELECT hour, fingerprint "
            "FROM alert_firings_hourly WHERE hour < %s LIMIT %s)",
            (day_start(horizon), SUMMARY_DELETE_BATCH)).rowcount == SUMMARY_DELETE_BATCH:
        pass
    while conn.execute(
            "DELETE FROM alert_firings_daily WHERE (day, fingerprint) IN (SELECT day, fingerprint "
            "FROM alert_firings_daily WHERE day < %s LIMIT %s)", (horizon, SUMMARY_DELETE_BATCH)).rowcount \
            == SUMMARY_DELETE_BATCH:
        pass
    return report


def _archive(conn: psycopg.Connection, table: str, name: str, day: date) -> None:
    archive = table + ARCHIVE_SUFFIX
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(sql.Identifier(table), sql.Identifier(name)))
        # Detached, its indexes are its own: keep the primary key only (the archive's one index).
        rows = conn.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary", (name,)).fetchall()
        for (index,) in rows:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
        conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(archive), sql.Identifier(name), sql.Literal(day_start(day)),
            sql.Literal(day_start(day + timedelta(days=1)))))
