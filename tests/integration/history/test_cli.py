"""`pipeline db …`, `pipeline history …` and `pipeline dev postgres …` against real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from pipeline.cli import main
from pipeline.devenv.process import free_port
from pipeline.fingerprint import alert_fingerprint
from pipeline.stages.history import HistoryProcessor
from tests.integration.history.conftest import database_dsn
from tests.integration.history.factories import enriched, notification, outcome, record

NOW = datetime.now(timezone.utc).replace(microsecond=0)
LABELS = {"alertname": "DiskFull", "team": "db", "instance": "db1"}
FP = alert_fingerprint(LABELS)


@pytest.fixture(scope="module")
def cli_db(postgres_url):
    """An empty database (the CLI migrates it) and an environment naming it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield {"PIPELINE_HISTORY__DSN": database_dsn(postgres_url, name)}
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def invoke(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def lines(result):
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_db_migrate_status_and_sql(cli_db):
    status = invoke(cli_db, "db", "status")
    assert status.exit_code == 1 and "run `pipeline db migrate`" in status.output
    first = invoke(cli_db, "db", "migrate")
    assert first.exit_code == 0 and "migrated from (empty) to 0001_history" in first.output
    again = invoke(cli_db, "db", "migrate")
    assert again.exit_code == 0 and "schema already at 0001_history" in again.output
    assert "schema current" in invoke(cli_db, "db", "status").output
    assert "CREATE TABLE alert_changes" in invoke(cli_db, "db", "sql").output


def test_history_commands_print_json_lines(cli_db):
    invoke(cli_db, "db", "migrate")
    from pipeline.settings import HistorySettings

    history = HistorySettings(dsn=cli_db["PIPELINE_HISTORY__DSN"])
    values = [enriched(LABELS, "new" if i % 2 == 0 else "resolved", NOW - timedelta(minutes=10 - i)) for i in range(5)]
    values += [notification(values[:1], nid="n1", at=NOW - timedelta(minutes=9)),
               outcome("n1", "delivered", 1, NOW - timedelta(minutes=9))]

    async def load():
        processor = HistoryProcessor(history)
        for value in values:
            await processor.process(record(value), {}, NOW)
        await processor.flush()
        await processor.aclose()
    asyncio.run(load())

    timeline = invoke(cli_db, "history", "timeline", FP)
    assert timeline.exit_code == 0
    assert [(o["type"], o.get("change") or o.get("outcome")) for o in lines(timeline)] == [
        ("change", "new"), ("change", "resolved"), ("change", "new"), ("change", "resolved"), ("change", "new"),
        ("notification", "delivered")]
    paged = invoke(cli_db, "history", "search", "--filter", 'team="db"', "--since", "1h", "--limit", "2")
    assert len(lines(paged)) == 2 and "more: --cursor " in paged.stderr
    cursor = paged.stderr.split("--cursor ")[1].strip()
    rest = invoke(cli_db, "history", "search", "--filter", 'team="db"', "--since", "1h", "--cursor", cursor)
    assert len(lines(rest)) == 3
    assert lines(invoke(cli_db, "history", "top", "--by", "alertname", "--since", "1h")) == [
        {"value": "DiskFull", "firings": 3, "alerts": 1, "last_fired_at": lines(timeline)[4]["at"]}]
    assert [o["fingerprint"] for o in lines(invoke(cli_db, "history", "flapping"))] == [FP]
    assert lines(invoke(cli_db, "history", "flapping", "--threshold", "5")) == []
    assert lines(invoke(cli_db, "history", "receivers", "--since", "1h"))[0]["outcomes"]["delivered"] == 1
    assert [n["id"] for n in lines(invoke(cli_db, "history", "notifications", "team-db", "--since", "1h"))] == ["n1"]
    # The stage's first flush ran maintenance already; take away a day ahead for the command to make.
    ahead = f"alert_changes_p{NOW + timedelta(days=3):%Y%m%d}"
    with psycopg.connect(history.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(ahead)))
    maintained = invoke(cli_db, "history", "maintain")
    assert maintained.exit_code == 0 and maintained.output.strip() == f"created {ahead}"
    assert invoke(cli_db, "history", "maintain").output.strip() == "nothing to do"


def test_history_command_errors_are_clear(cli_db):
    bad = invoke(cli_db, "history", "search", "--filter", "a=~\"(\"")
    assert bad.exit_code == 2 and "filter:" in bad.output
    unknown = invoke(cli_db, "history", "timeline", "0123456789abcdef")
    assert unknown.exit_code == 1 and "no history of alert 0123456789abcdef" in unknown.output
    down = invoke({"PIPELINE_HISTORY__DSN": "postgresql://pipeline@127.0.0.1:1/pipeline"}, "history", "top")
    assert down.exit_code == 1 and "PostgreSQL at postgresql://pipeline@127.0.0.1:1/pipeline" in down.output


def test_dev_postgres_up_status_down_keeps_its_data():
    state = tempfile.mkdtemp(prefix="pipeline-dev-")
    os.chmod(state, 0o755)  # the postgres user (when we are root) must reach its data directory
    port = free_port()
    env = {"PIPELINE_DEV__STATE_DIR": state, "PIPELINE_DEV__POSTGRES_PORT": str(port),
           "PIPELINE_HISTORY__DSN": f"postgresql://pipeline@127.0.0.1:{port}/pipeline"}
    try:
        up = invoke(env, "dev", "postgres", "up")
        assert up.exit_code == 0 and "cluster initialized" in up.output, up.output
        assert "already running" in invoke(env, "dev", "postgres", "up").output
        assert f"postgres: ready at postgresql://pipeline@127.0.0.1:{port}/pipeline" in invoke(env, "dev", "postgres", "status").output
        assert "migrated" in invoke(env, "db", "migrate").output
        assert "stopped" in invoke(env, "dev", "postgres", "down").output
        assert invoke(env, "dev", "postgres", "status").output.strip() == "postgres: stopped"
        again = invoke(env, "dev", "postgres", "up")
        assert "cluster initialized" not in again.output
        assert "schema current" in invoke(env, "db", "status").output  # the data survived the restart
    finally:
        invoke(env, "dev", "postgres", "down")
        shutil.rmtree(state, ignore_errors=True)
