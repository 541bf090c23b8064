"""Connection strings: the password goes to libpq apart from the DSN and never into a message."""

import pytest
from psycopg import conninfo
from pydantic import SecretStr

from pipeline.db.pool import DatabaseUnavailable, conninfo_for, connect, safe_dsn
from pipeline.settings import HistorySettings


def test_conninfo_carries_password_timeouts_and_name():
    history = HistorySettings(dsn="postgresql://app@db.example:6543/hist?sslmode=require",
                              password=SecretStr("s3cret"), statement_timeout_ms=1234)
    parts = conninfo.conninfo_to_dict(conninfo_for(history, "history api"))
    assert parts["password"] == "s3cret" and parts["sslmode"] == "require"
    assert parts["options"] == "-c statement_timeout=1234 -c TimeZone=UTC"
    assert parts["application_name"] == "alert-pipeline history api"
    writer = conninfo.conninfo_to_dict(conninfo_for(history, "writer", history.write_statement_timeout_ms))
    assert "statement_timeout=60000" in writer["options"]


def test_messages_never_show_a_password():
    assert safe_dsn("postgresql://app:hunter2@db:5432/hist") == "postgresql://app@db:5432/hist"
    assert "hunter2" not in safe_dsn("host=db user=app password=hunter2 dbname=hist")
    history = HistorySettings(dsn="postgresql://app:hunter2@127.0.0.1:1/hist", connect_timeout_s=1)
    with pytest.raises(DatabaseUnavailable) as error:
        connect(history, "test")
    assert "hunter2" not in str(error.value) and "127.0.0.1:1" in str(error.value)


def test_a_malformed_dsn_is_a_clear_error():
    with pytest.raises(DatabaseUnavailable, match="history.dsn is not a valid libpq DSN"):
        conninfo_for(HistorySettings(dsn="postgresql://[::1"), "test")
