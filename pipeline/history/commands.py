"""``pipeline history …``: the history queries from a terminal, and partition maintenance.

Output is JSON, one object per line (one per item of a page); a page that has more prints the
``--cursor`` to continue with on stderr. The queries are the API's (pipeline.history.queries).
"""

from __future__ import annotations

from datetime import datetime, timezone

import click
import orjson

_SINCE = click.option("--since", help="RFC 3339 time, or a duration before now (24h, 7d). Default: 24h before --until.")
_UNTIL = click.option("--until", help="RFC 3339 time, or a duration before now. Default: now.")
_LIMIT = click.option("--limit", type=int, help="Items per page (at most history.query_max_limit).")
_CURSOR = click.option("--cursor", help="Continue after a page (printed on stderr when there is more).")
_FILTER = click.option("--filter", "filters", multiple=True, metavar="MATCHER",
                       help='Alertmanager matcher, e.g. team="db" or alertname=~"Disk.*" (repeatable; all must match).')
_ARCHIVE = click.option("--archive", is_flag=True, help="Read the archive tables (history past the retention).")


def _history():
    from pipeline.cli import _settings

    return _settings().history


def _run(work):
    """Run ``work(conn, history, now)`` on a query connection; errors become clean CLI errors."""
    import psycopg

    from pipeline.db.migrate import SchemaNotCurrent, require_current_schema
    from pipeline.db.pool import DatabaseUnavailable, connect
    from pipeline.history.queries import QueryError

    history = _history()
    try:
        require_current_schema(history)
        with connect(history, "history cli") as conn:
            return work(conn, history, datetime.now(timezone.utc))
    except QueryError as exc:
        raise click.UsageError(str(exc)) from exc
    except (SchemaNotCurrent, DatabaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    except psycopg.errors.QueryCanceled as exc:
        raise click.ClickException(f"the query ran longer than history.statement_timeout_ms "
                                   f"({history.statement_timeout_ms} ms); narrow the time range or the filter") from exc


def _lines(items) -> None:
    for item in items:
        click.echo(orjson.dumps(item).decode())


def _more(cursor: str | None) -> None:
    if cursor:
        click.echo(f"more: --cursor {cursor}", err=True)


@click.group("history")
def history_group() -> None:
    """Alert history in PostgreSQL: timelines, search, top and flapping alerts, deliveries."""


@history_group.command("timeline")
@click.argument("fingerprint")
@_SINCE
@_UNTIL
@_LIMIT
@_CURSOR
@_ARCHIVE
def timeline(fingerprint, since, until, limit, cursor, archive) -> None:
    """An alert's state changes, oldest first, then the notifications that carried it."""
    from pipeline.history import queries

    def work(conn, history, now):
        return queries.timeline_page(lambda q: queries.run_sync(conn, q), history, fingerprint, since, until,
                                     limit, cursor, now, archive)
    result = _run(work)
    if not result["changes"] and not cursor:
        raise click.ClickException(f"no history of alert {fingerprint} in that time range")
    _lines({"type": "change", **c} for c in result["changes"])
    _lines({"type": "notification", **n} for n in result["notifications"])
    _more(result["next_cursor"])


@history_group.command("search")
@_FILTER
@_SINCE
@_UNTIL
@click.option("--change", "changes", multiple=True, type=click.Choice(["new", "updated", "resolved", "expired"]),
              help="Only these changes (repeatable).")
@_LIMIT
@_CURSOR
@_ARCHIVE
def search(filters, since, until, changes, limit, cursor, archive) -> None:
    """State changes whose labels match, newest first."""
    from pipeline.history import queries

    def work(conn, history, now):
        plan = queries.search(history, filters, since, until, limit, cursor, now, changes, archive)
        return queries.search_page_sync(conn, plan, history.query_max_scan_rows)
    page = _run(work)
    _lines(page.items)
    _more(page.next_cursor)


@history_group.command("top")
@click.option("--by", help="Label to group by (alertname, team, any label); default: per alert.")
@_FILTER
@_SINCE
@_UNTIL
@_LIMIT
def top(by, filters, since, until, limit) -> None:
    """Most firings in the window, per label value or per alert (equality matchers only)."""
    from pipeline.history import queries

    result = _run(lambda conn, history, now: queries.run_sync(conn, queries.top(history, by, filters, since, until,
                                                                                limit, now)))
    _lines(result["items"])


@history_group.command("flapping")
@click.option("--threshold", type=int, help="More than this many state changes... (default history.flapping_threshold)")
@click.option("--window", help="...within this window before now, e.g. 30m (default history.flapping_window_s).")
@_FILTER
@_LIMIT
def flapping(threshold, window, filters, limit) -> None:
    """Alerts flapping now (Alerta's rule: more than N state changes within a window)."""
    from pipeline.history import queries

    result = _run(lambda conn, history, now: queries.run_sync(conn, queries.flapping(history, threshold, window, filters,
                                                                                     limit, now)))
    _lines(result["items"])


@history_group.command("firings")
@click.option("--step", type=click.Choice(["1h", "1d"]), help="Bucket size; default 1h up to a 7-day window, 1d beyond.")
@_FILTER
@_SINCE
@_UNTIL
def firings(step, filters, since, until) -> None:
    """Firings per UTC hour or day in the window, one line per bucket (equality matchers only)."""
    from pipeline.history import queries

    result = _run(lambda conn, history, now: queries.run_sync(conn, queries.firings_over_time(history, filters, since,
                                                                                              until, step, now)))
    _lines(result["buckets"])


@history_group.command("receivers")
@_SINCE
@_UNTIL
def receivers(since, until) -> None:
    """Per receiver: notifications sent in the window and their delivery outcomes."""
    from pipeline.history import queries

    result = _run(lambda conn, history, now: queries.run_sync(conn, queries.receivers_summary(history, since, until, now)))
    _lines(result["items"])


@history_group.command("notifications")
@click.argument("receiver")
@click.option("--outcome", type=click.Choice(["delivered", "retrying", "dead_lettered", "duplicate_skipped"]),
              help="Only notifications whose latest outcome is this.")
@_SINCE
@_UNTIL
@_LIMIT
@_CURSOR
def notifications(receiver, outcome, since, until, limit, cursor) -> None:
    """A receiver's notifications, newest first, each with its delivery attempts."""
    from pipeline.history import queries

    page = _run(lambda conn, history, now: queries.run_sync(conn, queries.receiver_notifications(
        history, receiver, since, until, limit, cursor, now, outcome)))
    _lines(page.items)
    _more(page.next_cursor)


@history_group.command("maintain")
def maintain() -> None:
    """Create partitions ahead, archive those past the retention, drop old archives (for cron; the
    history stage also does it every history.maintenance_interval_s)."""
    from pipeline.db.migrate import SchemaNotCurrent, require_current_schema
    from pipeline.db.pool import DatabaseUnavailable
    from pipeline.stages.history import run_maintenance

    history = _history()
    try:
        require_current_schema(history)
        report = run_maintenance(history, datetime.now(timezone.utc))
    except (SchemaNotCurrent, DatabaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report.lines() or ["nothing to do"]:
        click.echo(line)
