"""The history processor against a real PostgreSQL: rows, idempotence, summaries, bounds, failures."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY

from pipeline.db.migrate import SchemaNotCurrent
from pipeline.history.records import encode_outcome
from pipeline.history.writer import configure_connection
from pipeline.models import replace
from pipeline.settings import HistorySettings, Settings
from pipeline.stages import history as history_stage
from pipeline.stages.history import HistoryProcessor
from pipeline.stages.processor import Rejected
from tests.integration.history.factories import T0, enriched, flapping_series, notification, outcome, record

NOW = datetime.now(timezone.utc)


async def feed(processor: HistoryProcessor, values, flush: bool = True):
    answers = [await processor.process(record(v), {}, NOW) for v in values]
    if flush:
        await processor.flush()
    return answers


def run(coro):
    return asyncio.run(coro)


async def _with_processor(history: HistorySettings, body, **kw):
    processor = HistoryProcessor(history.model_copy(update=kw))
    try:
        return await body(processor)
    finally:
        await processor.aclose()


def counts(db) -> dict[str, int]:
    return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("alert_changes", "alert_summaries", "notifications", "delivery_outcomes")}


def test_every_change_notification_and_outcome_is_stored_with_its_fields(history_db, db):
    firing = enriched({"team": "db", "instance": "db1"}, "new", T0, silenced_by=["s-1"])
    resolved = enriched({"team": "db", "instance": "db1"}, "resolved", T0 + timedelta(minutes=3))
    values = [firing, resolved, notification([firing]), outcome("n1", "retrying", 1, T0, error="HTTP 503"),
              # as a topic read raw would hand it over
              encode_outcome(outcome("n1", "delivered", 2, T0 + timedelta(seconds=5)))]

    answers = run(_with_processor(history_db, lambda p: feed(p, values)))

    assert answers == [()] * 5
    assert counts(db) == {"alert_changes": 2, "alert_summaries": 1, "notifications": 1, "delivery_outcomes": 2}
    row = db.execute("SELECT change, status, transition, alertname, team, priority, state, labels, annotations, "
                     "silenced_by, receivers, routes->0->>'group_key', classification->>'classified_by', "
                     "links->0->>'url' FROM alert_changes ORDER BY at LIMIT 1").fetchone()
    assert row == ("new", "firing", True, "DiskFull", "db", "P2", "suppressed",
                   {"alertname": "DiskFull", "team": "db", "instance": "db1"}, {"summary": "disk"},
                   ["s-1"], ["team-db"], '{}:{alertname="DiskFull"}', "rules", "https://runbooks/disk")
    summary = db.execute("SELECT status, last_change, changes, firings, transitions, cardinality(recent_transitions) "
                         "FROM alert_summaries").fetchone()
    assert summary == ("resolved", "resolved", 2, 1, 2, 2)
    assert db.execute("SELECT receiver, integration, alert_count, fingerprints FROM notifications").fetchone() == (
        "team-db", "webhook/0", 1, [firing.alert.fingerprint])
    assert db.execute("SELECT attempt, outcome, error, status_code FROM delivery_outcomes ORDER BY attempt").fetchall() == [
        (1, "retrying", "HTTP 503", 503), (2, "delivered", "", 200)]


def test_a_replayed_or_duplicated_record_never_duplicates_a_row(history_db, db):
    series = flapping_series({"team": "db"}, 5)
    note = notification(series[:1])
    values = [*series, note, outcome("n1", "delivered", 1)]

    async def body(p):
        await feed(p, values + values)          # duplicated inside one batch
        await feed(p, values)                   # replayed in a later batch
        await feed(p, [*reversed(values)])      # replayed out of order
    written = lambda: REGISTRY.get_sample_value("history_rows_written_total", {"table": "alert_changes"}) or 0  # noqa: E731
    offered = lambda: REGISTRY.get_sample_value("history_rows_offered_total", {"table": "alert_changes"}) or 0  # noqa: E731
    written_before, offered_before = written(), offered()
    run(_with_processor(history_db, body))
    assert (written() - written_before, offered() - offered_before) == (5, 15)  # 3 batches of 5 rows
    before = counts(db)
    summary = db.execute("SELECT changes, firings, transitions, recent_transitions FROM alert_summaries").fetchone()
    # A restarted worker (a fresh processor: nothing in memory) reading it all again.
    run(_with_processor(history_db, lambda p: feed(p, values)))
    # The group stage replaying a flush: same notification id, another created_at.
    replayed_flush = notification(series[:1], at=T0 + timedelta(seconds=30))
    run(_with_processor(history_db, lambda p: feed(p, [replayed_flush])))

    assert before == {"alert_changes": 5, "alert_summaries": 1, "notifications": 1, "delivery_outcomes": 1}
    assert counts(db) == before
    assert db.execute("SELECT changes, firings, transitions, recent_transitions FROM alert_summaries").fetchone() == summary
    assert summary[:3] == (5, 3, 5)
    assert db.execute("SELECT sum(firings) FROM alert_firings_hourly").fetchone()[0] == 3
    assert db.execute("SELECT sum(firings) FROM alert_firings_daily").fetchone()[0] == 3


def test_transitions_count_status_changes_not_resends(history_db, db):
    labels = {"team": "db"}
    values = [enriched(labels, "new", T0), enriched(labels, "updated", T0 + timedelta(minutes=1), annotations={"summary": "x"}),
              enriched(labels, "resolved", T0 + timedelta(minutes=2)),
              enriched(labels, "resolved", T0 + timedelta(minutes=3)),   # a re-sent resolve
              enriched(labels, "new", T0 + timedelta(minutes=4))]
    # Two batches: the second compares with the stored summary's status.
    run(_with_processor(history_db, lambda p: feed(p, values[:3])))
    run(_with_processor(history_db, lambda p: feed(p, values[3:])))

    flags = db.execute("SELECT change, transition FROM alert_changes ORDER BY at").fetchall()
    assert flags == [("new", True), ("updated", False), ("resolved", True), ("resolved", False), ("new", True)]
    assert db.execute("SELECT transitions, firings, status FROM alert_summaries").fetchone() == (3, 2, "firing")


def test_bad_records_are_rejected_with_the_reason_and_write_nothing(history_db, db):
    no_change = replace(enriched({"team": "db"}), change=None)
    future = enriched({"team": "db"}, "new", NOW + timedelta(days=30))

    answers = run(_with_processor(history_db, lambda p: feed(p, [no_change, future, b"not json", b'{"attempt": 0}', 42])))

    assert all(isinstance(a, Rejected) for a in answers)
    reasons = [a.reason for a in answers]
    assert "has change None" in reasons[0]
    assert "ahead of the clock" in reasons[1]
    assert "malformed" in reasons[2] or reasons[2].startswith("not JSON")
    assert reasons[3].startswith("not a DeliveryOutcome")
    assert "not int" in reasons[4]
    assert counts(db) == {"alert_changes": 0, "alert_summaries": 0, "notifications": 0, "delivery_outcomes": 0}


def test_the_buffer_is_bounded_process_writes_it_when_full(history_db, db):
    async def body(p):
        await feed(p, flapping_series({"team": "db"}, 7), flush=False)
        held, written = p.buffered, counts(db)["alert_changes"]
        await p.flush()
        return held, written, p.buffered
    held, written, after_flush = run(_with_processor(history_db, body, batch_rows=3))
    # 7 rows, batches of 3: the first written, the second in flight or written, one buffered.
    assert written >= 3 and held + written == 7 and held <= 4
    assert after_flush == 0 and counts(db)["alert_changes"] == 7


def test_a_failed_write_keeps_the_rows_and_retries_until_the_database_answers(history_db, db, postgres_url):
    import psycopg_pool

    from pipeline.db.pool import conninfo_for
    from tests.integration.history.conftest import database_dsn

    broken = history_db.model_copy(update={"dsn": database_dsn(postgres_url, "no_such_database")})

    async def body():
        bad_pool = psycopg_pool.AsyncConnectionPool(conninfo_for(broken, "test"), min_size=0, max_size=1, open=False,
                                                    timeout=0.5, configure=configure_connection)
        await bad_pool.open()
        processor = HistoryProcessor(broken, pool=bad_pool)
        await feed(processor, flapping_series({"team": "db"}, 2), flush=False)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(processor.flush(), timeout=2)
        still = processor.buffered
        await bad_pool.close()
        # The database is back (here: the right one); the same rows get written.
        good_pool = psycopg_pool.AsyncConnectionPool(conninfo_for(history_db, "test"), min_size=0, max_size=1,
                                                     open=False, configure=configure_connection)
        await good_pool.open()
        processor._pool, processor._writer = good_pool, None
        await processor.flush()
        await good_pool.close()
        return still, processor.buffered
    assert run(body()) == (2, 0)
    assert counts(db)["alert_changes"] == 2


def test_rows_older_than_the_retention_are_not_stored_and_old_partitions_move_to_the_archive(history_db, db):
    old = NOW - timedelta(days=12)
    values = [enriched({"team": "db", "n": "old"}, "new", old), enriched({"team": "db", "n": "new"}, "new", T0)]
    # Written while the retention was 30 days...
    run(_with_processor(history_db, lambda p: feed(p, values)))
    assert counts(db)["alert_changes"] == 2
    # ...then the retention drops to 10: maintenance archives that day, a replay of it stores nothing.
    short = history_db.model_copy(update={"retention_days": 10})
    report = history_stage.run_maintenance(short, NOW)
    old_partition = f"alert_changes_p{old:%Y%m%d}"
    assert old_partition in report.archived
    assert any(name.startswith("alert_changes_p") for name in report.created) or report.created == []
    assert counts(db)["alert_changes"] == 1
    assert db.execute("SELECT labels->>'n' FROM alert_changes_archive").fetchall() == [("old",)]
    indexes = db.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (old_partition,)).fetchall()
    assert len(indexes) == 1  # the primary key only

    async def replay(p):
        await feed(p, values[:1])
        return p.totals.dropped_too_old
    assert run(_with_processor(short, replay)) == 1
    assert counts(db)["alert_changes"] == 1


def test_maintenance_creates_partitions_ahead_and_drops_old_archives(history_db, db):
    history = history_db.model_copy(update={"retention_days": 2, "archive_retention_days": 3, "partitions_ahead_days": 2})
    run(_with_processor(history_db, lambda p: feed(p, [enriched({"n": "a"}, "new", NOW - timedelta(days=9))])))
    first = history_stage.run_maintenance(history, NOW)
    assert f"alert_changes_p{NOW + timedelta(days=2):%Y%m%d}" in first.created + _existing(db)
    assert f"alert_changes_p{NOW - timedelta(days=9):%Y%m%d}" in first.archived
    assert f"alert_changes_p{NOW - timedelta(days=9):%Y%m%d}" in first.dropped  # 9 > 2 + 3 days
    second = history_stage.run_maintenance(history, NOW)
    assert second.created == [] and second.archived == [] and second.dropped == []


def _existing(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'alert_changes_p%'")]


def test_a_worker_refuses_an_unmigrated_database(postgres_url):
    import uuid

    import psycopg
    from psycopg import sql

    from tests.integration.history.conftest import database_dsn

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        settings = Settings(history=HistorySettings(dsn=database_dsn(postgres_url, name), enabled=True))
        with pytest.raises(SchemaNotCurrent, match=r"no history schema yet; run `pipeline db migrate`"):
            history_stage.create(settings)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
