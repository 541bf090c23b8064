"""PostgreSQL: the connection pools of every process that uses it and the schema migrations.

``pipeline.db.pool`` opens psycopg 3 pools from ``settings.history`` (one DSN for the history now and
the incidents later); ``pipeline.db.migrations`` is the Alembic environment whose revisions hold the
schema as plain SQL, applied by ``pipeline db migrate`` and checked by every process at start
(``require_current_schema``). See docs/history.md.
"""
