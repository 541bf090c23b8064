"""``pipeline db``: the PostgreSQL schema (migrations)."""

from __future__ import annotations

import click


def _history_settings():
    from pipeline.cli import _settings

    return _settings().history


@click.group("db")
def db_group() -> None:
    """The PostgreSQL schema of the history (and later the incidents)."""


@db_group.command("migrate")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def db_migrate(revision: str) -> None:
    """Apply the schema migrations (idempotent: an up-to-date database is left as it is)."""
    from pipeline.db.migrate import migrate
    from pipeline.db.pool import DatabaseUnavailable, safe_dsn

    history = _history_settings()
    try:
        before, after = migrate(history, revision)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    where = safe_dsn(history.dsn)
    if before == after:
        click.echo(f"{where}: schema already at {', '.join(sorted(after)) or '(empty)'}")
    else:
        click.echo(f"{where}: migrated from {', '.join(sorted(before)) or '(empty)'} to {', '.join(sorted(after))}")


@db_group.command("status")
def db_status() -> None:
    """Show the database's revision and whether it is the one this version needs (exit 1 if not)."""
    from pipeline.db.migrate import SchemaNotCurrent, head_revisions, require_current_schema
    from pipeline.db.pool import DatabaseUnavailable, safe_dsn

    history = _history_settings()
    try:
        require_current_schema(history)
    except SchemaNotCurrent as exc:
        click.echo(str(exc))
        raise SystemExit(1) from None
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{safe_dsn(history.dsn)}: schema current ({', '.join(sorted(head_revisions()))})")


@db_group.command("sql")
def db_sql() -> None:
    """Print the SQL of every migration (for review by a DBA; nothing is run)."""
    from pipeline.db.migrate import upgrade_sql

    click.echo(upgrade_sql(), nl=False)
