"""Alert history in PostgreSQL (issue #15): rows and their natural keys, the batched writer, daily
partitions with archive and retention, the queries behind ``/api/history`` and ``pipeline history``,
and the flapping set. The stages are ``pipeline.stages.history`` and ``pipeline.stages.flapping``;
the schema is in ``pipeline.db``. docs/history.md describes it all.
"""
