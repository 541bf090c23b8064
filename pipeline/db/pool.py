"""psycopg 3 connection pools configured from ``settings.history``.

Two kinds of connection, told apart by their ``statement_timeout``: query connections (the API and
``pipeline history``) are cut at ``statement_timeout_ms`` so no request can hold the database; the
history stage's writer and partition maintenance get ``write_statement_timeout_ms``. Every connection
names itself in ``application_name`` (visible in pg_stat_activity) and uses UTC.

The password is passed to libpq apart from the DSN and never appears in a log or an error message:
``safe_dsn`` renders a DSN without it.
"""

from __future__ import annotations

import orjson
import psycopg
from psycopg import conninfo
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from pipeline.settings import HistorySettings


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL cannot be reached or refused the connection; the message names the server, not secrets."""


def conninfo_for(history: HistorySettings, purpose: str, statement_timeout_ms: int | None = None) -> str:
    """The libpq conninfo of one connection: the DSN plus password, timeouts and identification."""
    try:
        parts = conninfo.conninfo_to_dict(history.dsn)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUnavailable(f"history.dsn is not a valid libpq DSN: {exc}") from None
    if history.password is not None:
        parts["password"] = history.password.get_secret_value()
    parts.setdefault("connect_timeout", str(max(1, int(history.connect_timeout_s))))
    parts.setdefault("application_name", f"alert-pipeline {purpose}")
    timeout = statement_timeout_ms if statement_timeout_ms is not None else history.statement_timeout_ms
    options = parts.get("options", "")
    parts["options"] = f"{options} -c statement_timeout={timeout} -c TimeZone=UTC".strip()
    return conninfo.make_conninfo(**parts)


def safe_dsn(dsn: str) -> str:
    """``dsn`` without any password, for messages."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparseable DSN)"
    parts.pop("password", None)
    host = parts.get("host", "localhost")
    return f"postgresql://{parts.get('user', '')}@{host}:{parts.get('port', '5432')}/{parts.get('dbname', '')}"


def connect(history: HistorySettings, purpose: str, *, write: bool = False, autocommit: bool = False) -> psycopg.Connection:
    """One synchronous connection (CLI commands, migrations, the flapping refresher's thread)."""
    timeout = history.write_statement_timeout_ms if write else history.statement_timeout_ms
    try:
        conn = psycopg.connect(conninfo_for(history, purpose, timeout), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"PostgreSQL at {safe_dsn(history.dsn)}: {_first_line(exc)}") from None
    use_orjson(conn)
    return conn


def use_orjson(conn) -> None:
    """JSONB in and out with orjson (several times faster than the json module on label maps)."""
    set_json_loads(orjson.loads, context=conn)
    set_json_dumps(orjson.dumps, context=conn)


async def _configure_query_connection(conn) -> None:
    use_orjson(conn)


def async_pool(history: HistorySettings, purpose: str, *, write: bool = False, configure=None) -> AsyncConnectionPool:
    """An (unopened) async pool; ``await pool.open(wait=True)`` before use, ``await pool.close()`` after.
    ``configure`` (async, per new connection) defaults to orjson for JSONB."""
    timeout = history.write_statement_timeout_ms if write else history.statement_timeout_ms
    return AsyncConnectionPool(
        conninfo_for(history, purpose, timeout), min_size=history.pool_min_size,
        max_size=max(history.pool_max_size, history.pool_min_size), open=False,
        configure=configure or _configure_query_connection,
        timeout=history.connect_timeout_s * 2, name=f"history-{purpose}",
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
