"""Writing buffered history rows to PostgreSQL: one transaction per batch, idempotent.

Per batch, on one pooled connection: the rows are COPied (binary) into temporary staging tables,
then inserted into the partitioned tables with ``ON CONFLICT DO NOTHING`` on their natural key
(pipeline.history.rows), and the alert summaries are upserted **from the rows that were really
inserted** (``RETURNING``), so a replayed record changes neither the changes nor the counters. The
staging tables are ``ON COMMIT DELETE ROWS``: a failed batch leaves nothing behind and is written
again whole.

Notifications and outcomes have natural keys without their time column, but a unique index of a
partitioned table must contain the partition column; so the insert also skips a key already stored
within ``DEDUP_WINDOW`` of the row's time (a replayed flush may carry another ``created_at``). The
window is the retention of the notification topics (7 days): a replay can come from no further back.

Transitions: a change is a state transition when its status differs from the alert's status before
it (the previous change in the batch, else the stored summary); a first sighting counts when it
fires. Out-of-order arrivals (an older change stored late) compare with the latest known status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import psycopg

from pipeline.db.pool import use_orjson
from pipeline.history import partitions
from pipeline.history.rows import (
    CHANGE_COLUMNS,
    NOTIFICATION_COLUMNS,
    OUTCOME_COLUMNS,
    ChangeRow,
    NotificationRow,
    OutcomeRow,
)
from pipeline.settings import HistorySettings

log = logging.getLogger(__name__)

DEDUP_WINDOW = timedelta(days=7)
RECENT_TRANSITIONS = 64  # kept per alert in alert_summaries.recent_transitions (flapping threshold < this)

CHANGE_TYPES = [
    "timestamptz", "text", "text", "text", "text", "text", "text", "text", "jsonb", "jsonb", "timestamptz",
    "timestamptz", "timestamptz", "text", "text", "text[]", "text[]", "text[]", "jsonb", "jsonb", "jsonb",
]
NOTIFICATION_TYPES = ["text", "timestamptz", "text", "text", "text", "text", "text", "jsonb", "jsonb", "int8",
                      "int4", "int4", "text[]"]
OUTCOME_TYPES = ["timestamptz", "text", "int4", "text", "text", "text", "text", "text", "text", "int4"]

_cols = ", ".join

STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS stage_changes ({", ".join(f"{c} {t}" for c, t in zip(CHANGE_COLUMNS, CHANGE_TYPES))})
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_notifications ({", ".join(f"{c} {t}" for c, t in zip(NOTIFICATION_COLUMNS, NOTIFICATION_TYPES))})
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_outcomes ({", ".join(f"{c} {t}" for c, t in zip(OUTCOME_COLUMNS, OUTCOME_TYPES))})
    ON COMMIT DELETE ROWS;
"""

INSERT_CHANGES = f"""
WITH ordered AS (
    SELECT s.*, coalesce(lag(s.status) OVER (PARTITION BY s.fingerprint ORDER BY s.at, s.change), sm.status)
               AS previous_status
    FROM stage_changes s LEFT JOIN alert_summaries sm ON sm.fingerprint = s.fingerprint
), inserted AS (
    INSERT INTO alert_changes ({_cols(CHANGE_COLUMNS)}, transition)
    SELECT {_cols(CHANGE_COLUMNS)},
           CASE WHEN previous_status IS NULL THEN status = 'firing' ELSE status <> previous_status END
    FROM ordered
    ON CONFLICT DO NOTHING
    RETURNING fingerprint, at, change, status, transition, labels, alertname, team, priority
), per_alert AS (
    SELECT fingerprint,
           (array_agg(labels ORDER BY at DESC, change DESC))[1] AS labels,
           (array_agg(alertname ORDER BY at DESC, change DESC))[1] AS alertname,
           (array_agg(team ORDER BY at DESC, change DESC))[1] AS team,
           (array_agg(priority ORDER BY at DESC, change DESC))[1] AS priority,
           (array_agg(status ORDER BY at DESC, change DESC))[1] AS status,
           (array_agg(change ORDER BY at DESC, change DESC))[1] AS last_change,
           min(at) AS first_seen_at, max(at) AS last_change_at,
           max(at) FILTER (WHERE transition) AS last_transition_at,
           count(*) AS changes,
           count(*) FILTER (WHERE change = 'new') AS firings,
           count(*) FILTER (WHERE transition) AS transitions,
           coalesce(array_agg(at ORDER BY at) FILTER (WHERE transition), '{{}}') AS recent_transitions
    FROM inserted GROUP BY fingerprint
), upserted AS (
    INSERT INTO alert_summaries AS t (fingerprint, labels, alertname, team, priority, status, last_change,
        first_seen_at, last_change_at, last_transition_at, changes, firings, transitions, recent_transitions)
    SELECT fingerprint, labels, alertname, team, priority, status, last_change, first_seen_at,
           last_change_at, last_transition_at, changes, firings, transitions,
           recent_transitions[greatest(1, cardinality(recent_transitions) - {RECENT_TRANSITIONS - 1}):]
    FROM per_alert
    ON CONFLICT (fingerprint) DO UPDATE SET
        labels = CASE WHEN excluded.last_change_at >= t.last_change_at THEN excluded.labels ELSE t.labels END,
        alertname = CASE WHEN excluded.last_change_at >= t.last_change_at THEN excluded.alertname ELSE t.alertname END,
        team = CASE WHEN excluded.last_change_at >= t.last_change_at THEN excluded.team ELSE t.team END,
        priority = CASE WHEN excluded.last_change_at >= t.last_change_at THEN excluded.priority ELSE t.priority END,
        status = CASE WHEN excluded.last_change_at >= t.last_change_at THEN excluded.status ELSE t.status END,
        last_change = CASE WHEN excluded.last_change_at >= t.last_change_at THEN excluded.last_change
                           ELSE t.last_change END,
        first_seen_at = least(t.first_seen_at, excluded.first_seen_at),
        last_change_at = greatest(t.last_change_at, excluded.last_change_at),
        last_transition_at = greatest(t.last_transition_at, excluded.last_transition_at),
        changes = t.changes + excluded.changes,
        firings = t.firings + excluded.firings,
        transitions = t.transitions + excluded.transitions,
        recent_transitions = (SELECT coalesce(array_agg(x ORDER BY x), '{{}}') FROM (
            SELECT x FROM unnest(t.recent_transitions || excluded.recent_transitions) AS x
            ORDER BY x DESC LIMIT {RECENT_TRANSITIONS}) AS latest),
        written_at = now()
    RETURNING 1
), hourly AS (
    INSERT INTO alert_firings_hourly AS h (hour, fingerprint, firings, last_at)
    SELECT date_trunc('hour', at), fingerprint, count(*), max(at) FROM inserted WHERE change = 'new'
    GROUP BY 1, 2
    ON CONFLICT (hour, fingerprint) DO UPDATE SET firings = h.firings + excluded.firings,
        last_at = greatest(h.last_at, excluded.last_at)
    RETURNING 1
), daily AS (
    INSERT INTO alert_firings_daily AS d (day, fingerprint, firings, last_at)
    SELECT (at AT TIME ZONE 'UTC')::date, fingerprint, count(*), max(at) FROM inserted WHERE change = 'new'
    GROUP BY 1, 2
    ON CONFLICT (day, fingerprint) DO UPDATE SET firings = d.firings + excluded.firings,
        last_at = greatest(d.last_at, excluded.last_at)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM upserted), (SELECT count(*) FROM hourly),
       (SELECT count(*) FROM daily)
"""

INSERT_NOTIFICATIONS = f"""
INSERT INTO notifications ({_cols(NOTIFICATION_COLUMNS)})
SELECT DISTINCT ON (s.id) {_cols("s." + c for c in NOTIFICATION_COLUMNS)} FROM stage_notifications s
WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = s.id
                  AND n.created_at BETWEEN s.created_at - %(window)s AND s.created_at + %(window)s)
ORDER BY s.id, s.created_at
ON CONFLICT DO NOTHING
"""

INSERT_OUTCOMES = f"""
INSERT INTO delivery_outcomes ({_cols(OUTCOME_COLUMNS)})
SELECT DISTINCT ON (s.notification_id, s.attempt, s.outcome) {_cols("s." + c for c in OUTCOME_COLUMNS)}
FROM stage_outcomes s
WHERE NOT EXISTS (SELECT 1 FROM delivery_outcomes o WHERE o.notification_id = s.notification_id
                  AND o.attempt = s.attempt AND o.outcome = s.outcome
                  AND o.at BETWEEN s.at - %(window)s AND s.at + %(window)s)
ORDER BY s.notification_id, s.attempt, s.outcome, s.at
ON CONFLICT DO NOTHING
"""


@dataclass
class Batch:
    """Rows waiting to be written, deduplicated by natural key (the first one wins)."""

    changes: dict[tuple, ChangeRow] = field(default_factory=dict)
    notifications: dict[str, NotificationRow] = field(default_factory=dict)
    outcomes: dict[tuple, OutcomeRow] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.changes) + len(self.notifications) + len(self.outcomes)

    def add_change(self, row: ChangeRow) -> None:
        self.changes.setdefault(row.key, row)

    def add_notification(self, row: NotificationRow) -> None:
        self.notifications.setdefault(row.key, row)

    def add_outcome(self, row: OutcomeRow) -> None:
        self.outcomes.setdefault(row.key, row)


@dataclass
class WriteReport:
    changes_inserted: int = 0
    notifications_inserted: int = 0
    outcomes_inserted: int = 0
    dropped_too_old: int = 0  # rows of days already archived (older than the retention)


async def configure_connection(conn: psycopg.AsyncConnection) -> None:
    """Pool hook: orjson for JSONB and the session's staging tables."""
    use_orjson(conn)
    await conn.execute(STAGING)
    await conn.commit()


class HistoryWriter:
    """Writes batches through an async pool whose connections ran ``configure_connection``."""

    def __init__(self, history: HistorySettings, pool):
        self.history = history
        self.pool = pool
        self._live_days: dict[str, set[date]] | None = None

    async def write(self, batch: Batch, now: datetime) -> WriteReport:
        report = WriteReport()
        if not len(batch):
            return report
        async with self.pool.connection() as conn:
            changes = await self._placeable(conn, "alert_changes", list(batch.changes.values()), now, report)
            notifications = await self._placeable(conn, "notifications", list(batch.notifications.values()), now, report)
            outcomes = await self._placeable(conn, "delivery_outcomes", list(batch.outcomes.values()), now, report)
            async with conn.transaction():
                if changes:
                    await self._copy(conn, "stage_changes", CHANGE_COLUMNS, CHANGE_TYPES, changes)
                    cursor = await conn.execute(INSERT_CHANGES)
                    report.changes_inserted = (await cursor.fetchone())[0]
                if notifications:
                    await self._copy(conn, "stage_notifications", NOTIFICATION_COLUMNS, NOTIFICATION_TYPES, notifications)
                    cursor = await conn.execute(INSERT_NOTIFICATIONS, {"window": DEDUP_WINDOW})
                    report.notifications_inserted = cursor.rowcount
                if outcomes:
                    await self._copy(conn, "stage_outcomes", OUTCOME_COLUMNS, OUTCOME_TYPES, outcomes)
                    cursor = await conn.execute(INSERT_OUTCOMES, {"window": DEDUP_WINDOW})
                    report.outcomes_inserted = cursor.rowcount
        if report.dropped_too_old:
            log.warning("history: %d rows older than the retention (%d days) not stored",
                        report.dropped_too_old, self.history.retention_days)
        return report

    async def _placeable(self, conn, table: str, rows: list, now: datetime, report: WriteReport) -> list:
        """The rows that have a partition, creating the partitions of days within the retention."""
        if not rows:
            return rows
        if self._live_days is None:
            self._live_days = await partitions.live_days_async(conn)
        known = self._live_days.setdefault(table, set())
        days = {partitions.day_of(row.at) for row in rows}
        horizon = partitions.retention_horizon(self.history, now)
        missing = {day for day in days - known if day >= horizon}
        if missing:
            await partitions.ensure_partitions_async(conn, {table: missing})
            known |= missing
        if all(day in known for day in days):
            return rows
        kept = [row for row in rows if partitions.day_of(row.at) in known]
        report.dropped_too_old += len(rows) - len(kept)
        return kept

    def forget_partitions(self) -> None:
        """Re-read the partitions at the next write (after maintenance moved some)."""
        self._live_days = None

    @staticmethod
    async def _copy(conn, table: str, columns, types, rows) -> None:
        async with conn.cursor().copy(f"COPY {table} ({_cols(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                await copy.write_row(row.values)
