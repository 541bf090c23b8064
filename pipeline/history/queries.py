"""The history queries, one implementation for the HTTP API (async) and ``pipeline history`` (sync).

Each query is a function of validated parameters that returns a :class:`Query`: SQL, parameters and
a function shaping the rows into the JSON answer. ``run_sync``/``run_async`` execute it. Every query is
bounded: a page is at most ``history.query_max_limit`` rows, a search reads at most
``history.query_max_scan_rows`` rows per page, and the connection's ``statement_timeout`` cancels
anything slower (answered 503 by the API).

Matchers are Alertmanager's (pipeline.matchers, the parser of the API's ``filter``) over the labels
an alert had at that change. ``=`` and ``!=`` (and ``=""``/``!=""``: label absent/present) become
SQL on the JSONB labels (the GIN index serves ``@>``); regex matchers are evaluated by
pipeline.matchers on the rows SQL narrowed down, so their semantics are exactly the API's.

Pagination is keyset: a page answers ``next_cursor`` (opaque) when there may be more; passing it back
continues after the last row read, whatever was written meanwhile.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from pipeline.durations import parse_duration
from pipeline.history.records import OUTCOME_KINDS
from pipeline.history.rows import CHANGES
from pipeline.history.writer import RECENT_TRANSITIONS
from pipeline.matchers import Matcher, MatcherError, Matchers, MatchType, parse_matcher
from pipeline.settings import HistorySettings

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
MAX_FILTERS = 32
MAX_MATCHER_CHARS = 1024
DEFAULT_SPAN = timedelta(hours=24)
MAX_THRESHOLD = RECENT_TRANSITIONS - 1


class QueryError(ValueError):
    """A parameter a query cannot take; the message names it (HTTP 400, CLI usage error)."""


@dataclass
class Query:
    sql: str
    params: dict[str, Any]
    shape: Callable[[list[tuple]], Any]


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    scanned: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor, "scanned": self.scanned}


# -- parameters ------------------------------------------------------------------------------------

def parse_time(text: str | None, now: datetime, name: str, default: datetime) -> datetime:
    """RFC 3339 (with an offset), or a duration meaning that long before ``now`` (``24h``, ``7d``)."""
    if text is None or text == "":
        return default
    if len(text) > 64:
        raise QueryError(f"{name}: too long")
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name}: {text!r} is neither an RFC 3339 time nor a duration like 24h") from None
    if moment.tzinfo is None:
        raise QueryError(f"{name}: {text!r} has no UTC offset (add Z or +hh:mm)")
    return moment.astimezone(timezone.utc)


def time_range(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    end = parse_time(until, now, "until", now)
    start = parse_time(since, now, "since", end - DEFAULT_SPAN)
    if start >= end:
        raise QueryError(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    return start, end


def parse_limit(text: str | int | None, history: HistorySettings, default: int = 100) -> int:
    if text is None or text == "":
        return min(default, history.query_max_limit)
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise QueryError(f"limit: {text!r} is not an integer") from None
    if not 1 <= value <= history.query_max_limit:
        raise QueryError(f"limit: must be between 1 and {history.query_max_limit}")
    return value


def parse_filters(values: Iterable[str]) -> Matchers:
    values = list(values)
    if len(values) > MAX_FILTERS:
        raise QueryError(f"filter: at most {MAX_FILTERS} matchers")
    matchers = []
    for text in values:
        if len(text) > MAX_MATCHER_CHARS:
            raise QueryError(f"filter: a matcher longer than {MAX_MATCHER_CHARS} characters")
        try:
            matchers.append(parse_matcher(text))
        except MatcherError as exc:
            raise QueryError(f"filter: {exc}") from None
    return Matchers(matchers)


def check_label_name(name: str, what: str) -> str:
    if not LABEL_NAME.match(name or ""):
        raise QueryError(f"{what}: {name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return name


def check_fingerprint(text: str) -> str:
    if not FINGERPRINT.match(text or ""):
        raise QueryError(f"fingerprint: {text!r} is not 16 lower-case hex digits")
    return text


def encode_cursor(at: datetime, ident: Any) -> str:
    raw = orjson.dumps([at.isoformat(), ident])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> tuple[datetime, Any] | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at, ident = orjson.loads(raw)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(ident, (int, str)) or isinstance(ident, bool):
            raise ValueError
        return moment, ident
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise QueryError("cursor: not a cursor this API returned") from None


# -- matchers to SQL ---------------------------------------------------------------------------------

def matcher_sql(matchers: Matchers, column: str, params: dict[str, Any],
                allow_regex: bool = True) -> tuple[list[str], Matchers]:
    """SQL conditions for what SQL evaluates exactly, and the matchers left for Python."""
    equal: dict[str, str] = {}
    clauses: list[str] = []
    rest: list[Matcher] = []
    for index, matcher in enumerate(matchers):
        name_param = f"m{index}_name"
        if matcher.type is MatchType.EQUAL:
            if matcher.value == "":
                params[name_param] = matcher.name
                clauses.append(f"NOT {column} ? %({name_param})s")
            elif matcher.name in equal and equal[matcher.name] != matcher.value:
                clauses.append("false")  # a label has one value
            else:
                equal[matcher.name] = matcher.value
        elif matcher.type is MatchType.NOT_EQUAL:
            params[name_param] = matcher.name
            if matcher.value == "":
                clauses.append(f"{column} ? %({name_param})s")
            else:
                value_param = f"m{index}_value"
                params[value_param] = orjson.dumps({matcher.name: matcher.value}).decode()
                clauses.append(f"NOT {column} @> %({value_param})s::jsonb")
        else:
            if not allow_regex:
                raise QueryError(f"filter: {matcher} — regex matchers are not supported by this query")
            if not matcher.matches(""):
                params[name_param] = matcher.name
                clauses.append(f"{column} ? %({name_param})s")  # the label must be there
            rest.append(matcher)
    if equal:
        params["m_contains"] = orjson.dumps(equal).decode()
        clauses.insert(0, f"{column} @> %(m_contains)s::jsonb")
    return clauses, Matchers(rest)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# -- alert changes ------------------------------------------------------------------------------------

CHANGE_FIELDS = ("id, at, fingerprint, change, status, transition, alertname, team, priority, state, labels, "
                 "annotations, starts_at, ends_at, received_at, source, generator_url, silenced_by, "
                 "inhibited_by, receivers, routes, classification, links")


def change_json(row: tuple) -> dict[str, Any]:
    (ident, at, fingerprint, change, status, transition, alertname, team, priority, state, labels, annotations,
     starts_at, ends_at, received_at, source, generator_url, silenced_by, inhibited_by, receivers, routes,
     classification, links) = row
    return {
        "id": ident, "at": _iso(at), "fingerprint": fingerprint, "change": change, "status": status,
        "transition": transition, "alertname": alertname, "team": team, "priority": priority, "state": state,
        "labels": labels, "annotations": annotations, "starts_at": _iso(starts_at), "ends_at": _iso(ends_at),
        "received_at": _iso(received_at), "source": source, "generator_url": generator_url,
        "silenced_by": silenced_by, "inhibited_by": inhibited_by, "receivers": receivers, "routes": routes,
        "classification": classification, "links": links,
    }


def _changes_table(archive: bool) -> str:
    return "alert_changes_archive" if archive else "alert_changes"


def timeline(history: HistorySettings, fingerprint: str, since: str | None, until: str | None,
             limit: str | int | None, cursor: str | None, now: datetime, archive: bool = False) -> Query:
    """One alert's changes, oldest first, each with the notifications that carried it in between."""
    check_fingerprint(fingerprint)
    if since or until:
        start, end = time_range(since, until, now)
    else:  # the whole retention, and the records a little ahead of this clock that the stage accepts
        start = now - timedelta(days=history.retention_days + 1)
        end = now + timedelta(seconds=history.max_future_s)
    size = parse_limit(limit, history)
    after = decode_cursor(cursor)
    params: dict[str, Any] = {"fp": fingerprint, "start": start, "end": end, "size": size + 1,
                              "after_at": after[0] if after else None, "after_id": after[1] if after else None}
    table = _changes_table(archive)
    sql = f"""
        SELECT {CHANGE_FIELDS} FROM {table}
        WHERE fingerprint = %(fp)s AND at >= %(start)s AND at < %(end)s
          AND (%(after_at)s::timestamptz IS NULL OR (at, id) > (%(after_at)s::timestamptz, %(after_id)s::bigint))
        ORDER BY at, id LIMIT %(size)s"""

    def shape(rows: list[tuple]) -> Page:
        more = len(rows) > size
        rows = rows[:size]
        items = [change_json(r) for r in rows]
        next_cursor = encode_cursor(rows[-1][1], rows[-1][0]) if more and rows else None
        return Page(items, next_cursor, len(rows))
    return Query(sql, params, shape)


def timeline_notifications(fingerprint: str, start: datetime, end: datetime, size: int) -> Query:
    """The notifications that carried an alert between two times, with their delivery outcomes."""
    sql = f"""
        SELECT {NOTIFICATION_FIELDS}, {OUTCOMES_OF_NOTIFICATION}
        FROM notifications n
        WHERE n.fingerprints @> ARRAY[%(fp)s]::text[] AND n.created_at >= %(start)s AND n.created_at < %(end)s
        ORDER BY n.created_at, n.id LIMIT %(size)s"""
    return Query(sql, {"fp": fingerprint, "start": start, "end": end, "size": size},
                 lambda rows: [notification_json(r) for r in rows])


WALK_ROWS = 2000  # the first window a search reads in time order
WALK_LIMIT = 10000  # rows a search walks at most before it asks the GIN index instead


@dataclass
class SearchPlan:
    """A search, run by ``search_page_sync``/``search_page_async`` as a :class:`SearchScan`.

    Two ways to find a page, because PostgreSQL's planner cannot tell a frequent label value from a
    rare one (``@>`` has a fixed selectivity estimate) and picks badly either way:

    - **walk**: read the next rows in time order through the ``(at, id)`` index and test the SQL
      conditions on them: cheap when matches are frequent;
    - **seek**: when the matches found so far say the page would need more than ``WALK_LIMIT`` rows
      walked, ask for the next matching rows only (the GIN index on labels, sorted): cheap because
      matches are then rare.

    Regex matchers are tested in Python on each candidate's labels. Either way a page reads at most
    ``max_scan`` rows and then comes back short with a cursor.
    """

    table: str
    params: dict[str, Any]
    base_where: str
    hit: str            # the SQL conditions, "true" when there are none
    has_conditions: bool
    rest: Matchers      # what Python evaluates
    size: int

    def walk(self, rows: int) -> str:
        return (f"SELECT id, at, {self.hit} AS hit, CASE WHEN {self.hit} THEN labels END AS labels FROM ("
                f"SELECT id, at, labels FROM {self.table} WHERE {self.base_where} "
                f"ORDER BY at DESC, id DESC LIMIT {int(rows)}) AS w ORDER BY at DESC, id DESC")

    def seek(self, rows: int) -> str:
        return (f"SELECT id, at, true AS hit, labels FROM {self.table} WHERE {self.base_where} AND {self.hit} "
                f"ORDER BY at DESC, id DESC LIMIT {int(rows)}")


def search(history: HistorySettings, filters: Iterable[str], since: str | None, until: str | None,
           limit: str | int | None, cursor: str | None, now: datetime, changes: Iterable[str] = (),
           archive: bool = False) -> SearchPlan:
    """Changes whose labels match every matcher within a time range, newest first."""
    matchers = parse_filters(filters)
    start, end = time_range(since, until, now)
    size = parse_limit(limit, history)
    wanted = list(changes)
    for change in wanted:
        if change not in CHANGES:
            raise QueryError(f"change: {change!r} is not one of {', '.join(CHANGES)}")
    after = decode_cursor(cursor)
    params: dict[str, Any] = {"start": start, "end": end, "changes": wanted or None}
    clauses, rest = matcher_sql(matchers, "labels", params)
    params["before_at"], params["before_id"] = (after if after else (None, None))
    base_where = " AND ".join([
        "at >= %(start)s", "at < %(end)s", "(%(changes)s::text[] IS NULL OR change = ANY(%(changes)s::text[]))",
        "(%(before_at)s::timestamptz IS NULL OR (at, id) < (%(before_at)s::timestamptz, %(before_id)s::bigint))"])
    return SearchPlan(_changes_table(archive), params, base_where, " AND ".join(clauses) or "true",
                      bool(clauses), rest, size)


def details(table: str, keys: list[tuple]) -> Query:
    """The whole rows of ``keys`` ((id, at) as a scan read them), newest first."""
    ats = [key[1] for key in keys]
    sql = f"""SELECT {CHANGE_FIELDS} FROM {table}
        WHERE at >= %(low)s AND at <= %(high)s
          AND (at, id) IN (SELECT * FROM unnest(%(ats)s::timestamptz[], %(ids)s::bigint[]))
        ORDER BY at DESC, id DESC"""
    return Query(sql, {"low": min(ats), "high": max(ats), "ats": ats, "ids": [key[0] for key in keys]},
                 lambda rows: [change_json(r) for r in rows])


class SearchScan:
    """The paging of a search plan: ``next()`` gives the SQL of the next read, ``feed(rows)`` takes its
    rows (id, at, hit, labels) and answers the page, or None when it needs another read.

    After each walk window it estimates, from the matches so far, how many more rows the page needs:
    within ``WALK_LIMIT`` rows in all it walks on (a window of that size), else it seeks."""

    def __init__(self, plan: SearchPlan, max_scan: int):
        self.plan, self.max_scan = plan, max_scan
        self.matched: list[tuple] = []
        self.scanned = 0
        self.walked = 0
        self.seeking = False
        self.window = WALK_ROWS
        self.rows = 0

    def next(self) -> tuple[str, dict[str, Any]]:
        plan = self.plan
        left = self.max_scan - self.scanned
        if not self.seeking:
            quick = not plan.has_conditions and not plan.rest  # every row is a match
            self.rows = plan.size + 1 if quick else max(plan.size + 1, min(self.window, left))
            return plan.walk(self.rows), plan.params
        needed = plan.size - len(self.matched) + 1
        self.rows = needed if not plan.rest else max(needed, min(plan.size * 10, left))
        return plan.seek(self.rows), plan.params

    def _page(self, last: tuple | None) -> Page:
        return Page(list(self.matched), encode_cursor(last[1], last[0]) if last is not None else None, self.scanned)

    def feed(self, rows: list[tuple]) -> Page | None:
        read_all = len(rows) == self.rows  # else the range is exhausted
        for index, (ident, at, hit, labels) in enumerate(rows):
            self.scanned += 1
            if hit and self.plan.rest.matches(labels):
                self.matched.append((ident, at))
                if len(self.matched) == self.plan.size:
                    more = read_all or index < len(rows) - 1
                    return self._page((ident, at) if more else None)
        if not read_all:
            return self._page(None)
        last = rows[-1]
        if self.scanned >= self.max_scan:  # budget spent: a short page, and where to go on from
            return self._page(last[:2])
        self.plan.params["before_at"], self.plan.params["before_id"] = last[1], last[0]
        if not self.seeking:
            self.walked += len(rows)
            self._choose()
        return None

    def _choose(self) -> None:
        if not self.plan.has_conditions:
            return  # nothing an index could find: walk on
        found, needed = len(self.matched), self.plan.size - len(self.matched)
        expected = needed * self.walked / found if found else float("inf")
        if expected <= WALK_LIMIT - self.walked:
            self.window = int(expected * 1.5) + 1  # matches are frequent enough: walk that far
        else:
            self.seeking = True  # rare: let the GIN index find them


def search_page_sync(conn, plan: SearchPlan, max_scan: int) -> Page:
    scan = SearchScan(plan, max_scan)
    while True:
        page = scan.feed(conn.execute(*scan.next()).fetchall())
        if page is not None:
            break
    if page.items:
        page.items = run_sync(conn, details(plan.table, page.items))
    return page


async def search_page_async(conn, plan: SearchPlan, max_scan: int) -> Page:
    scan = SearchScan(plan, max_scan)
    while True:
        cursor = await conn.execute(*scan.next())
        page = scan.feed(await cursor.fetchall())
        if page is not None:
            break
    if page.items:
        page.items = await run_async(conn, details(plan.table, page.items))
    return page


# -- top and flapping -----------------------------------------------------------------------------------

def top(history: HistorySettings, by: str | None, filters: Iterable[str], since: str | None, until: str | None,
        limit: str | int | None, now: datetime) -> Query:
    """Most firings (changes ``new``) per value of a label in the window; no label: per alert."""
    start, end = time_range(since, until, now)
    size = parse_limit(limit, history, default=20)
    params: dict[str, Any] = {"start": start, "end": end, "size": size}
    clauses, _ = matcher_sql(parse_filters(filters), "s.labels", params, allow_regex=False)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    firings = firings_sql(start, end, params)
    if by:
        params["by"] = check_label_name(by, "by")
        sql = f"""WITH f AS ({firings})
            SELECT coalesce(s.labels->>%(by)s, '') AS value, sum(f.n)::bigint AS firings, count(*) AS alerts,
                   max(f.last_at) AS last_fired_at
            FROM f JOIN alert_summaries s USING (fingerprint){where}
            GROUP BY 1 ORDER BY firings DESC, value LIMIT %(size)s"""

        def shape(rows):
            return {"by": by, "since": _iso(start), "until": _iso(end),
                    "items": [{"value": v, "firings": n, "alerts": a, "last_fired_at": _iso(t)} for v, n, a, t in rows]}
    else:
        sql = f"""WITH f AS ({firings})
            SELECT f.fingerprint, f.n, f.last_at, s.labels, s.status FROM f JOIN alert_summaries s USING (fingerprint){where}
            ORDER BY f.n DESC, f.fingerprint LIMIT %(size)s"""

        def shape(rows):
            return {"by": None, "since": _iso(start), "until": _iso(end),
                    "items": [{"fingerprint": fp, "firings": n, "last_fired_at": _iso(t), "labels": labels,
                               "status": status} for fp, n, t, labels, status in rows]}
    return Query(sql, params, shape)


def _floor(moment: datetime, unit: timedelta) -> datetime:
    if unit == timedelta(days=1):
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil(moment: datetime, unit: timedelta) -> datetime:
    floor = _floor(moment, unit)
    return floor if floor == moment else floor + unit


def firings_sql(start: datetime, end: datetime, params: dict[str, Any]) -> str:
    """Per alert, its firings in [start, end) and the last one, from the coarsest counts that fit:
    whole UTC days from alert_firings_daily, the whole hours around them from alert_firings_hourly,
    the partial hours at either edge from alert_changes (its partial index on firings)."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    parts: list[str] = []

    def raw(a: datetime, b: datetime) -> None:
        if a < b:
            name = f"r{len(parts)}"
            params[name + "a"], params[name + "b"] = a, b
            parts.append(f"""SELECT fingerprint, 1 AS n, at AS last_at FROM alert_changes
                             WHERE change = 'new' AND at >= %({name}a)s AND at < %({name}b)s""")

    def hours(a: datetime, b: datetime) -> None:
        if a < b:
            name = f"h{len(parts)}"
            params[name + "a"], params[name + "b"] = a, b
            parts.append(f"""SELECT fingerprint, firings AS n, last_at FROM alert_firings_hourly
                             WHERE hour >= %({name}a)s AND hour < %({name}b)s""")

    first_hour, last_hour = _ceil(start, hour), _floor(end, hour)
    if first_hour >= last_hour:
        raw(start, end)
    else:
        raw(start, first_hour)
        first_day, last_day = _ceil(first_hour, day), _floor(last_hour, day)
        if first_day >= last_day:
            hours(first_hour, last_hour)
        else:
            hours(first_hour, first_day)
            params["days_a"], params["days_b"] = first_day.date(), last_day.date()
            parts.append("""SELECT fingerprint, firings AS n, last_at FROM alert_firings_daily
                            WHERE day >= %(days_a)s AND day < %(days_b)s""")
            hours(last_day, last_hour)
        raw(last_hour, end)
    return (f"SELECT fingerprint, sum(n)::bigint AS n, max(last_at) AS last_at FROM ({' UNION ALL '.join(parts)}) AS x "
            "GROUP BY fingerprint")


MAX_BUCKETS = 1000
STEPS = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
AUTO_HOURLY_UP_TO = timedelta(days=7)


def firings_over_time(history: HistorySettings, filters: Iterable[str], since: str | None, until: str | None,
                      step: str | None, now: datetime) -> Query:
    """Firings (changes ``new``) per UTC hour or day in the window, from the hourly/daily counts the
    writer keeps: buckets are whole hours (days), so the first and last may reach past [since, until).
    Every bucket is in the answer (0 when nothing fired), at most :data:`MAX_BUCKETS` of them.
    ``step``: ``1h`` or ``1d``; unset, hours up to a 7-day window and days beyond."""
    start, end = time_range(since, until, now)
    if step in (None, ""):
        unit = STEPS["1h"] if end - start <= AUTO_HOURLY_UP_TO else STEPS["1d"]
    elif step in STEPS:
        unit = STEPS[step]
    else:
        raise QueryError(f"step: {step!r} is not one of {', '.join(STEPS)}")
    first, stop = _floor(start, unit), _ceil(end, unit)
    count = int((stop - first) / unit)
    if count > MAX_BUCKETS:
        raise QueryError(f"step: {count} buckets of {step or 'the default step'} in this window, at most {MAX_BUCKETS} "
                         "(choose step=1d or a shorter window)")
    params: dict[str, Any] = {"first": first, "stop": stop}
    clauses, _ = matcher_sql(parse_filters(filters), "s.labels", params, allow_regex=False)
    join = " JOIN alert_summaries s USING (fingerprint)" if clauses else ""
    extra = "".join(f" AND {c}" for c in clauses)
    if unit == STEPS["1d"]:
        params["first"], params["stop"] = first.date(), stop.date()
        sql = (f"SELECT f.day, sum(f.firings)::bigint FROM alert_firings_daily f{join} "
               f"WHERE f.day >= %(first)s AND f.day < %(stop)s{extra} GROUP BY f.day")
    else:
        sql = (f"SELECT f.hour, sum(f.firings)::bigint FROM alert_firings_hourly f{join} "
               f"WHERE f.hour >= %(first)s AND f.hour < %(stop)s{extra} GROUP BY f.hour")

    def shape(rows):
        counts = {}
        for at, n in rows:
            moment = at if isinstance(at, datetime) else datetime(at.year, at.month, at.day, tzinfo=timezone.utc)
            counts[moment.astimezone(timezone.utc)] = n
        buckets = [{"at": _iso(first + i * unit), "firings": counts.get(first + i * unit, 0)} for i in range(count)]
        return {"since": _iso(start), "until": _iso(end), "step": int(unit.total_seconds()),
                "total": sum(b["firings"] for b in buckets), "buckets": buckets}
    return Query(sql, params, shape)


def parse_threshold(text: str | int | None, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise QueryError(f"threshold: {text!r} is not an integer") from None
    if not 1 <= value <= MAX_THRESHOLD:
        raise QueryError(f"threshold: must be between 1 and {MAX_THRESHOLD} (the transitions kept per alert)")
    return value


def parse_window(text: str | None, default_s: float) -> timedelta:
    if text is None or text == "":
        return timedelta(seconds=default_s)
    try:
        window = parse_duration(text)
    except ValueError as exc:
        raise QueryError(f"window: {exc}") from None
    if not timedelta(seconds=1) <= window <= timedelta(days=7):
        raise QueryError("window: must be between 1s and 7d")
    return window


FLAPPING_SQL = """
    SELECT fingerprint, labels, status, last_transition_at,
           (SELECT count(*) FROM unnest(recent_transitions) AS t WHERE t >= %(since)s AND t <= %(now)s) AS changes
    FROM alert_summaries s
    WHERE last_transition_at >= %(since)s
      AND cardinality(recent_transitions) > %(threshold)s
      AND recent_transitions[cardinality(recent_transitions) - %(threshold)s] >= %(since)s{extra}
    ORDER BY changes DESC, last_transition_at DESC, fingerprint LIMIT %(size)s"""


def flapping(history: HistorySettings, threshold: str | int | None, window: str | None, filters: Iterable[str],
             limit: str | int | None, now: datetime) -> Query:
    """Alerts with more than ``threshold`` state transitions within ``window`` before now (Alerta's rule)."""
    count = parse_threshold(threshold, history.flapping_threshold)
    span = parse_window(window, history.flapping_window_s)
    size = parse_limit(limit, history)
    params: dict[str, Any] = {"since": now - span, "now": now, "threshold": count, "size": size}
    clauses, _ = matcher_sql(parse_filters(filters), "s.labels", params, allow_regex=False)
    extra = "".join(f"\n      AND {c}" for c in clauses)

    def shape(rows):
        return {"threshold": count, "window": span.total_seconds(),
                "items": [{"fingerprint": fp, "labels": labels, "status": status, "changes": n,
                           "last_transition_at": _iso(t)} for fp, labels, status, t, n in rows]}
    return Query(FLAPPING_SQL.format(extra=extra), params, shape)


# -- notifications and deliveries -----------------------------------------------------------------------

NOTIFICATION_FIELDS = ("n.id, n.created_at, n.receiver, n.integration, n.status, n.group_key, n.route_key, "
                       "n.group_labels, n.common_labels, n.flush_seq, n.alert_count, n.truncated_alerts, n.fingerprints")
OUTCOMES_OF_NOTIFICATION = """(
    SELECT coalesce(jsonb_agg(jsonb_build_object('attempt', o.attempt, 'outcome', o.outcome, 'at', o.at,
                   'error', o.error, 'retry_tier', o.retry_tier, 'status_code', o.status_code)
                   ORDER BY o.at, o.attempt), '[]'::jsonb)
    FROM delivery_outcomes o WHERE o.notification_id = n.id
      AND o.at >= n.created_at - interval '1 hour' AND o.at < n.created_at + interval '8 days') AS outcomes"""


def notification_json(row: tuple) -> dict[str, Any]:
    (ident, created_at, receiver, integration, status, group_key, route_key, group_labels, common_labels,
     flush_seq, alert_count, truncated, fingerprints, outcomes) = row
    last = outcomes[-1]["outcome"] if outcomes else None
    return {"id": ident, "created_at": _iso(created_at), "receiver": receiver, "integration": integration,
            "status": status, "group_key": group_key, "route_key": route_key, "group_labels": group_labels,
            "common_labels": common_labels, "flush_seq": flush_seq, "alert_count": alert_count,
            "truncated_alerts": truncated, "fingerprints": fingerprints, "outcome": last, "outcomes": outcomes}


def receiver_notifications(history: HistorySettings, receiver: str, since: str | None, until: str | None,
                           limit: str | int | None, cursor: str | None, now: datetime,
                           outcome: str | None = None) -> Query:
    """A receiver's notifications, newest first, each with every delivery outcome it had."""
    if not receiver or len(receiver) > 256:
        raise QueryError("receiver: must be 1 to 256 characters")
    if outcome is not None and outcome not in OUTCOME_KINDS:
        raise QueryError(f"outcome: {outcome!r} is not one of {', '.join(OUTCOME_KINDS)}")
    start, end = time_range(since, until, now)
    size = parse_limit(limit, history)
    after = decode_cursor(cursor)
    params = {"receiver": receiver, "start": start, "end": end, "size": size + 1, "outcome": outcome,
              "before_at": after[0] if after else None, "before_id": str(after[1]) if after else None}
    sql = f"""
        SELECT * FROM (
            SELECT {NOTIFICATION_FIELDS}, {OUTCOMES_OF_NOTIFICATION}
            FROM notifications n
            WHERE n.receiver = %(receiver)s AND n.created_at >= %(start)s AND n.created_at < %(end)s
              AND (%(before_at)s::timestamptz IS NULL
                   OR (n.created_at, n.id) < (%(before_at)s::timestamptz, %(before_id)s::text))
            ORDER BY n.created_at DESC, n.id DESC
            LIMIT CASE WHEN %(outcome)s::text IS NULL THEN %(size)s ELSE {history.query_max_scan_rows} END
        ) AS page
        WHERE %(outcome)s::text IS NULL OR page.outcomes->-1->>'outcome' = %(outcome)s
        ORDER BY created_at DESC, id DESC LIMIT %(size)s"""

    def shape(rows):
        more = len(rows) > size
        rows = rows[:size]
        cursor_out = encode_cursor(rows[-1][1], rows[-1][0]) if more and rows else None
        return Page([notification_json(r) for r in rows], cursor_out, len(rows))
    return Query(sql, params, shape)


def receivers_summary(history: HistorySettings, since: str | None, until: str | None, now: datetime) -> Query:
    """Per receiver: notifications sent in the window and their outcomes by kind."""
    start, end = time_range(since, until, now)
    sql = """
        WITH sent AS (SELECT receiver, count(*) AS notifications FROM notifications
                      WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY receiver),
             done AS (SELECT receiver, outcome, count(*) AS n FROM delivery_outcomes
                      WHERE at >= %(start)s AND at < %(end)s GROUP BY receiver, outcome)
        SELECT coalesce(s.receiver, d.receiver) AS receiver, coalesce(max(s.notifications), 0),
               coalesce(jsonb_object_agg(d.outcome, d.n) FILTER (WHERE d.outcome IS NOT NULL), '{}'::jsonb)
        FROM sent s FULL JOIN done d ON d.receiver = s.receiver
        GROUP BY 1 ORDER BY 1 LIMIT %(size)s"""

    def shape(rows):
        items = []
        for receiver, sent, outcomes in rows:
            items.append({"receiver": receiver, "notifications": sent,
                          "outcomes": {kind: outcomes.get(kind, 0) for kind in OUTCOME_KINDS}})
        return {"since": _iso(start), "until": _iso(end), "items": items}
    return Query(sql, {"start": start, "end": end, "size": history.query_max_limit}, shape)


# -- running them -----------------------------------------------------------------------------------------

def run_sync(conn, query: Query):
    return query.shape(conn.execute(query.sql, query.params).fetchall())


async def run_async(conn, query: Query):
    cursor = await conn.execute(query.sql, query.params)
    return query.shape(await cursor.fetchall())


def timeline_page(rows_of: Callable[[Query], Any], history: HistorySettings, fingerprint: str,
                  since, until, limit, cursor, now: datetime, archive: bool = False) -> dict[str, Any]:
    """Synchronous composition used by the CLI; the API composes the same queries asynchronously."""
    page = rows_of(timeline(history, fingerprint, since, until, limit, cursor, now, archive))
    return attach_notifications(page, rows_of, fingerprint, history)


def timeline_span(page: Page) -> tuple[datetime, datetime] | None:
    if not page.items:
        return None
    first = datetime.fromisoformat(page.items[0]["at"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(page.items[-1]["at"].replace("Z", "+00:00"))
    # Notifications follow the change that caused them (group_wait and friends): up to the next page.
    return first, last + timedelta(hours=1) if page.next_cursor is None else last + timedelta(microseconds=1)


def attach_notifications(page: Page, rows_of, fingerprint: str, history: HistorySettings) -> dict[str, Any]:
    span = timeline_span(page)
    notes = rows_of(timeline_notifications(fingerprint, *span, history.query_max_limit)) if span else []
    return {"fingerprint": fingerprint, "changes": page.items, "notifications": notes,
            "next_cursor": page.next_cursor}


def as_json_bytes(value: Any) -> bytes:
    return orjson.dumps(value.as_json() if isinstance(value, Page) else value)
