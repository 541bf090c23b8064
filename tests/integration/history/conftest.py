"""A fresh, migrated database per test module on the session's PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import conninfo, sql

from pipeline.db.migrate import migrate
from pipeline.settings import HistorySettings


def database_dsn(server_dsn: str, name: str) -> str:
    parts = conninfo.conninfo_to_dict(server_dsn)
    parts["dbname"] = name
    return conninfo.make_conninfo(**parts)


@pytest.fixture(scope="module")
def history_db(postgres_url):
    """HistorySettings of a new database with the current schema, dropped after the module."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    history = HistorySettings(dsn=database_dsn(postgres_url, name), maintenance_interval_s=3600)
    migrate(history)
    yield history
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(history_db):
    """A connection to the module's database; every history table is emptied before the test."""
    with psycopg.connect(history_db.dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE alert_changes, alert_summaries, alert_firings_hourly, alert_firings_daily, notifications, delivery_outcomes, "
                     "alert_changes_archive, notifications_archive, delivery_outcomes_archive")
        yield conn
