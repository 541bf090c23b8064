"""Alembic environment: plain SQL revisions run over one psycopg 3 connection.

No models and no autogenerate: every revision in ``versions/`` is hand-written SQL (``op.execute``).
The connection comes from ``pipeline.db.migrate`` (``config.attributes["connection"]``), so a DSN in
any libpq form works and nothing here reads settings on its own. ``--sql`` (offline) mode writes the
SQL for a DBA to review instead of running it.
"""

from alembic import context

config = context.config

if context.is_offline_mode():
    context.configure(url="postgresql+psycopg://", literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes["connection"]
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
