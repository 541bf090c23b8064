"""Schema migrations with Alembic: ``pipeline db migrate`` applies them, every process checks them.

Why Alembic: it is the most used and best kept migration tool for Python and PostgreSQL (SQLAlchemy's
project, released every few weeks), keeps one linear revision chain that later features (incidents)
extend, runs each revision in its own transaction (PostgreSQL has transactional DDL), and writes the
SQL for review with ``--sql``. Revisions are plain SQL: there are no ORM models to generate them from.

A process that needs the schema calls ``require_current_schema`` at start: it reads
``alembic_version`` with one query and refuses to run against a database that is behind (or ahead of)
the code, naming the command that fixes it.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import psycopg

from pipeline.db.pool import DatabaseUnavailable, conninfo_for, safe_dsn
from pipeline.settings import HistorySettings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
FIX = "run `pipeline db migrate`"


class SchemaNotCurrent(RuntimeError):
    """The database's schema is not the one this code was written for."""


def _config(history: HistorySettings | None = None, output=None):
    from alembic.config import Config

    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


@cache
def head_revisions() -> frozenset[str]:
    """The revisions the code expects (the heads of the chain in migrations/versions)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def current_revisions(conn: psycopg.Connection) -> frozenset[str]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()[0]
    if not exists:
        return frozenset()
    return frozenset(row[0] for row in conn.execute(f"SELECT version_num FROM {VERSION_TABLE}"))


def schema_problem(current: frozenset[str]) -> str | None:
    """Why ``current`` is not the expected schema, or None when it is."""
    heads = head_revisions()
    if current == heads:
        return None
    if not current:
        return f"the database has no history schema yet; {FIX}"
    from alembic.script import ScriptDirectory

    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    unknown = current - known
    if unknown:
        return (f"the database is at revision {', '.join(sorted(unknown))}, which this version does not know "
                "(a newer release migrated it); run the matching release")
    return f"the database is at revision {', '.join(sorted(current))}, the code needs {', '.join(sorted(heads))}; {FIX}"


def require_current_schema(history: HistorySettings) -> None:
    """Raise SchemaNotCurrent (naming the fix) unless the database is at the code's revision."""
    try:
        with psycopg.connect(conninfo_for(history, "schema check")) as conn:
            current = current_revisions(conn)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"PostgreSQL at {safe_dsn(history.dsn)}: {str(exc).strip().splitlines()[0]}") from None
    problem = schema_problem(current)
    if problem:
        raise SchemaNotCurrent(f"PostgreSQL at {safe_dsn(history.dsn)}: {problem}")


def _engine(history: HistorySettings):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    info = conninfo_for(history, "migrate", history.write_statement_timeout_ms)

    def connect():
        try:
            return psycopg.connect(info)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"PostgreSQL at {safe_dsn(history.dsn)}: {str(exc).strip().splitlines()[0]}") from None

    return create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)


def migrate(history: HistorySettings, target: str = "head") -> tuple[frozenset[str], frozenset[str]]:
    """Upgrade to ``target``; returns the revisions before and after."""
    from alembic import command

    engine = _engine(history)
    try:
        with engine.connect() as connection:
            before = current_revisions(connection.connection.driver_connection)
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, target)
        with engine.connect() as connection:
            after = current_revisions(connection.connection.driver_connection)
    finally:
        engine.dispose()
    return before, after


def downgrade(history: HistorySettings, target: str) -> None:
    from alembic import command

    engine = _engine(history)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.downgrade(config, target)
    finally:
        engine.dispose()


def upgrade_sql(target: str = "head") -> str:
    """The SQL ``migrate`` would run on an empty database (Alembic's offline mode), for review."""
    from alembic import command

    out = io.StringIO()
    command.upgrade(_config(output=out), target, sql=True)
    return out.getvalue()
