"""Alert history: state changes, per-alert summaries, notifications, delivery outcomes, archives.

Revision ID: 0001_history
Revises:
Create Date: 2026-12-02

The time-series tables are range-partitioned by day on their time column; partitions are created by
``pipeline.history.partitions`` (the history stage and ``pipeline history maintain``), never here.
Each has an ``*_archive`` twin with the same columns: a partition older than ``history.retention_days``
is detached from the live table and attached to its archive (no copy), and dropped from the archive
after ``history.archive_retention_days``. docs/history.md describes every column.
"""

from alembic import op

revision = "0001_history"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
-- One row per alert state change on alerts.enriched. (fingerprint, at, change) is the natural key
-- of a change: a replayed or duplicated record maps to the same key and inserts nothing.
-- `at` is the alert's updated_at, or its ends_at for change 'expired' (dedup keeps updated_at there).
CREATE TABLE alert_changes (
    id             bigserial,
    at             timestamptz NOT NULL,
    fingerprint    text        NOT NULL,
    change         text        NOT NULL CHECK (change IN ('new', 'updated', 'resolved', 'expired')),
    status         text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    transition     boolean     NOT NULL DEFAULT false,
    alertname      text        NOT NULL DEFAULT '',
    team           text        NOT NULL DEFAULT '',
    priority       text,
    state          text        NOT NULL,
    labels         jsonb       NOT NULL,
    annotations    jsonb       NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz,
    received_at    timestamptz NOT NULL,
    source         text        NOT NULL DEFAULT '',
    generator_url  text        NOT NULL DEFAULT '',
    silenced_by    text[]      NOT NULL DEFAULT '{}',
    inhibited_by   text[]      NOT NULL DEFAULT '{}',
    receivers      text[]      NOT NULL DEFAULT '{}',
    routes         jsonb       NOT NULL DEFAULT '[]',
    classification jsonb,
    links          jsonb       NOT NULL DEFAULT '[]',
    PRIMARY KEY (fingerprint, at, change)
) PARTITION BY RANGE (at);
CREATE INDEX alert_changes_at_id ON alert_changes (at, id);
CREATE INDEX alert_changes_labels ON alert_changes USING gin (labels jsonb_path_ops);
-- Top alerts: firings per window without reading the rows.
CREATE INDEX alert_changes_firings ON alert_changes (at) INCLUDE (fingerprint) WHERE change = 'new';

-- One row per alert (fingerprint): its latest state and counters, maintained by the history stage in
-- the same transaction as its changes (only for rows that were really inserted, so replays never
-- count twice). recent_transitions holds the times of its latest 64 state transitions, ascending:
-- the flapping rule (more than N transitions in a window) reads it without scanning the changes.
CREATE TABLE alert_summaries (
    fingerprint         text        PRIMARY KEY,
    labels              jsonb       NOT NULL,
    alertname           text        NOT NULL DEFAULT '',
    team                text        NOT NULL DEFAULT '',
    priority            text,
    status              text        NOT NULL,
    last_change         text        NOT NULL,
    first_seen_at       timestamptz NOT NULL,
    last_change_at      timestamptz NOT NULL,
    last_transition_at  timestamptz,
    changes             bigint      NOT NULL DEFAULT 0,
    firings             bigint      NOT NULL DEFAULT 0,
    transitions         bigint      NOT NULL DEFAULT 0,
    recent_transitions  timestamptz[] NOT NULL DEFAULT '{}',
    written_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_summaries_last_transition ON alert_summaries (last_transition_at);
CREATE INDEX alert_summaries_written ON alert_summaries (written_at);
CREATE INDEX alert_summaries_last_change ON alert_summaries (last_change_at);

-- Firings (changes 'new') per alert and UTC hour (and day, below), maintained with the changes (from the inserted rows
-- only): top alerts over a long window add these up instead of counting every change; the partial
-- hours at the window's edges are counted from alert_changes. Rows older than the retention are
-- deleted by maintenance.
CREATE TABLE alert_firings_hourly (
    hour         timestamptz NOT NULL,
    fingerprint  text        NOT NULL,
    firings      integer     NOT NULL,
    last_at      timestamptz NOT NULL,
    PRIMARY KEY (hour, fingerprint)
);
-- The same per UTC day: a week's top adds up six days here and the hours at its edges above.
CREATE TABLE alert_firings_daily (
    day          date        NOT NULL,
    fingerprint  text        NOT NULL,
    firings      integer     NOT NULL,
    last_at      timestamptz NOT NULL,
    PRIMARY KEY (day, fingerprint)
);

-- One row per notification (a flush of one group to one receiver integration). The id is stable
-- across replays, but a replayed flush may carry another created_at, so the writer also skips an id
-- already stored within history's dedup window (see pipeline.history.writer).
CREATE TABLE notifications (
    id               text        NOT NULL,
    created_at       timestamptz NOT NULL,
    receiver         text        NOT NULL,
    integration      text        NOT NULL DEFAULT '',
    status           text        NOT NULL,
    group_key        text        NOT NULL,
    route_key        text        NOT NULL DEFAULT '',
    group_labels     jsonb       NOT NULL DEFAULT '{}',
    common_labels    jsonb       NOT NULL DEFAULT '{}',
    flush_seq        bigint      NOT NULL,
    alert_count      integer     NOT NULL,
    truncated_alerts integer     NOT NULL DEFAULT 0,
    fingerprints     text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX notifications_receiver ON notifications (receiver, created_at);
CREATE INDEX notifications_group ON notifications (group_key, created_at);
CREATE INDEX notifications_fingerprints ON notifications USING gin (fingerprints);

-- One row per delivery outcome the sink reports (DeliveryOutcome on notifications.outcomes); the
-- natural key is (notification_id, attempt, outcome).
CREATE TABLE delivery_outcomes (
    at              timestamptz NOT NULL,
    notification_id text        NOT NULL,
    attempt         integer     NOT NULL,
    outcome         text        NOT NULL
                    CHECK (outcome IN ('delivered', 'retrying', 'dead_lettered', 'duplicate_skipped')),
    receiver        text        NOT NULL,
    integration     text        NOT NULL DEFAULT '',
    group_key       text        NOT NULL,
    error           text        NOT NULL DEFAULT '',
    retry_tier      text        NOT NULL DEFAULT '',
    status_code     integer,
    PRIMARY KEY (notification_id, attempt, outcome, at)
) PARTITION BY RANGE (at);
CREATE INDEX delivery_outcomes_receiver ON delivery_outcomes (receiver, at);

-- The archives: same columns, only the primary key (the other indexes are dropped from a partition
-- when it is archived). Queried with `archive=true`.
CREATE TABLE alert_changes_archive (LIKE alert_changes INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (fingerprint, at, change)) PARTITION BY RANGE (at);
CREATE TABLE notifications_archive (LIKE notifications INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE delivery_outcomes_archive (LIKE delivery_outcomes INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (notification_id, attempt, outcome, at)) PARTITION BY RANGE (at);
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS delivery_outcomes_archive, notifications_archive, alert_changes_archive,
    delivery_outcomes, notifications, alert_firings_daily, alert_firings_hourly, alert_summaries, alert_changes;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
