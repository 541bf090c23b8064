"""The flapping set refreshed from what the history stage wrote, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import psycopg

from pipeline.fingerprint import alert_fingerprint
from pipeline.history.flapping import FlappingRefresher, FlappingSet
from pipeline.stages.flapping import MARKED, FlappingProcessor
from pipeline.stages.history import HistoryProcessor
from tests.integration.history.factories import enriched, flapping_series, record
from tests.unit.history.test_flapping_stage import DictState

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FLAPPER = {"alertname": "Flappy", "team": "db"}
STEADY = {"alertname": "Steady", "team": "db"}


def write(history, values):
    async def go():
        processor = HistoryProcessor(history)
        for value in values:
            await processor.process(record(value), {}, datetime.now(timezone.utc))
        await processor.flush()
        await processor.aclose()
    asyncio.run(go())


def test_refresh_reads_only_what_flaps_and_what_changed_since(history_db, db):
    write(history_db, flapping_series(FLAPPER, 4, NOW - timedelta(minutes=5)) + [enriched(STEADY, "new", NOW - timedelta(minutes=5))])
    flapping = FlappingSet(history_db)
    with psycopg.connect(history_db.dsn) as conn:
        assert flapping.refresh(conn, NOW) == 1
        assert flapping.lookup(alert_fingerprint(FLAPPER), NOW).changes == 4
        assert flapping.lookup(alert_fingerprint(STEADY), NOW) is None
        assert flapping.refresh(conn, NOW) == 1  # inside the write overlap: read again, same answer
        conn.execute("UPDATE alert_summaries SET written_at = now() - interval '1 minute'")
        conn.commit()
        assert flapping.refresh(conn, NOW) == 0  # nothing written since the last refresh
        assert flapping.lookup(alert_fingerprint(FLAPPER), NOW) is not None  # kept in memory
    # Steady starts flapping: the next refresh (only new writes) picks it up.
    write(history_db, flapping_series(STEADY, 4, NOW - timedelta(minutes=4))[1:])
    with psycopg.connect(history_db.dsn) as conn:
        assert flapping.refresh(conn, NOW) == 1
    assert flapping.lookup(alert_fingerprint(STEADY), NOW).changes == 4


def test_the_refresher_thread_feeds_the_stage_and_survives_a_database_outage(history_db, db):
    write(history_db, flapping_series(FLAPPER, 3, NOW - timedelta(minutes=3)))
    history = history_db.model_copy(update={"flapping_refresh_s": 0.5})
    flapping = FlappingSet(history)
    refresher = FlappingRefresher(history, flapping).start()
    try:
        deadline = time.monotonic() + 10
        while flapping.lookup(alert_fingerprint(FLAPPER), datetime.now(timezone.utc)) is None:
            assert time.monotonic() < deadline, "the refresher never found the flapping alert"
            time.sleep(0.1)
    finally:
        refresher.stop()
    stage = FlappingProcessor(history, flapping)
    value = enriched(FLAPPER, "new", NOW)
    out = stage.process(record(value), {MARKED: DictState()}, datetime.now(timezone.utc))
    assert out[0].value.alert.labels["flapping"] == "true"

    broken = history.model_copy(update={"dsn": "postgresql://pipeline@127.0.0.1:1/pipeline", "connect_timeout_s": 1})
    outage = FlappingRefresher(broken, flapping).start()
    try:
        deadline = time.monotonic() + 10
        while outage.failures < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        outage.stop()
    assert flapping.lookup(alert_fingerprint(FLAPPER), datetime.now(timezone.utc)) is not None  # last answer kept
