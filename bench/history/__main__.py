"""``python -m bench.history ingest|queries``: the history stage's write rate and the query latencies.

ingest   the history processor (pipeline.stages.history) fed the storm shape of bench/e2e — every
         alert a new fingerprint that fires and resolves, one notification and one delivered outcome
         per firing — through ``process`` and ``flush`` exactly as the runtime calls them, writing
         to PostgreSQL. Reports state changes/s and rows/s (wall clock, first record to last commit),
         the Python process's CPU per change, and the rate of replaying the same records (every row
         a conflict). ``--count`` alert changes (default 100,000).

queries  loads ``--rows`` alert changes (default 1,000,000: 20,000 alerts over 7 days, skewed so a few
         flap a lot, plus notifications and outcomes for a fifth of the firings) through the same
         writer, runs VACUUM ANALYZE (what autovacuum does to a table that size), then runs every query
         of pipeline.history.queries ``--runs`` times with varied parameters and reports p50/p95/p99/max.

PostgreSQL: ``POSTGRES_URL`` if set (a database is created and dropped there), else a durable
(fsync on) local server on a free port in a temporary directory (pipeline.devenv.postgres).
Figures only, no assertions; bench/history/RESULTS.md keeps them with what else ran on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from pipeline.db.migrate import migrate
from pipeline.devenv.postgres import LocalPostgres
from pipeline.devenv.process import free_port
from pipeline.fingerprint import alert_fingerprint
from pipeline.history import queries
from pipeline.history.records import DeliveryOutcome
from pipeline.models import Alert, Classification, EnrichedAlert, Notification, RouteMatch
from pipeline.settings import DevSettings, HistorySettings
from pipeline.stages.history import HistoryProcessor
from pipeline.stages.processor import Record


def server_cpu_seconds(server: LocalPostgres | None) -> float | None:
    """CPU (user + system) of the local server's processes so far: the postmaster and its children."""
    if server is None:
        return None
    try:
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster or ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


class Database:
    """A fresh database on POSTGRES_URL or on a local durable server of its own."""

    def __enter__(self) -> HistorySettings:
        given = os.environ.get("POSTGRES_URL")
        self.server = None
        if not given:
            home = Path(tempfile.mkdtemp(prefix="bench-history-pg-"))
            os.chmod(home, 0o755)
            self.server = LocalPostgres(DevSettings(postgres_port=free_port()), home=home, durable=True)
            start = self.server.up()
            print(f"local PostgreSQL 15 (fsync on) ready in {start.seconds_to_ready:.1f} s")
            given = start.dsn
        self.admin = given
        self.name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(given, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        parts = conninfo.conninfo_to_dict(given)
        parts["dbname"] = self.name
        self.history = HistorySettings(dsn=conninfo.make_conninfo(**parts), statement_timeout_ms=30000)
        migrate(self.history)
        return self.history

    def __exit__(self, *exc) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
        if self.server is not None:
            self.server.remove()


ALERTNAMES = [f"{kind}{area}" for kind in ("High", "Low", "Disk", "Pod", "Node", "Api")
              for area in ("Latency", "Errors", "Usage", "Restarts", "Pressure", "Saturation", "Down", "Lag",
                           "Full", "Throttling")]
TEAMS = [f"team-{i}" for i in range(12)]


def change_record(labels: dict[str, str], change: str, at: datetime, team: str) -> EnrichedAlert:
    status = "resolved" if change == "resolved" else "firing"
    alert = Alert(fingerprint=alert_fingerprint(labels), labels=labels,
                  annotations={"summary": f"{labels['alertname']} on {labels['instance']}", "runbook_url": "https://runbooks/x"},
                  starts_at=at, ends_at=at + timedelta(minutes=5), status=status, updated_at=at)
    return EnrichedAlert(alert=alert, source="prometheus", source_format="alertmanager-v2", received_at=at, change=change,
                         classification=Classification(priority="P2", team=team, classified_by="rules"),
                         routes=[RouteMatch(receiver=team, route_key="{}/{team=~\".*\"}",
                                            group_key=f"{{}}:{{alertname=\"{labels['alertname']}\"}}",
                                            group_labels={"alertname": labels["alertname"]})],
                         state="active")


def notification_for(record: EnrichedAlert, ident: str) -> Notification:
    return Notification(id=ident, receiver=record.routes[0].receiver, status=record.alert.status,
                        group_key=record.routes[0].group_key, alerts=[record.alert], flush_seq=1,
                        created_at=record.alert.updated_at + timedelta(milliseconds=50), integration="webhook/0")


def outcome_for(note: Notification, kind: str = "delivered", attempt: int = 1) -> DeliveryOutcome:
    return DeliveryOutcome(notification_id=note.id, receiver=note.receiver, integration=note.integration,
                           group_key=note.group_key, outcome=kind, attempt=attempt,
                           at=note.created_at + timedelta(milliseconds=20), status_code=200)


async def feed(processor: HistoryProcessor, values, now: datetime) -> None:
    for value in values:
        answer = await processor.process(Record(key=None, value=value), {}, now)
        assert answer == (), answer
    await processor.flush()


# -- ingest --------------------------------------------------------------------------------------------

def storm(count: int, now: datetime):
    """``count`` changes: count/2 alerts firing then resolving, one notification + outcome per firing."""
    values = []
    start = now - timedelta(minutes=30)
    for i in range(count // 2):
        labels = {"alertname": ALERTNAMES[i % len(ALERTNAMES)], "instance": f"host-{i}", "job": "node",
                  "severity": "warning", "team": TEAMS[i % len(TEAMS)]}
        at = start + timedelta(milliseconds=i)
        firing = change_record(labels, "new", at, labels["team"])
        note = notification_for(firing, f"storm-{i}")
        values += [firing, note, outcome_for(note)]
        values.append(change_record(labels, "resolved", at + timedelta(minutes=5), labels["team"]))
    return values


def ingest(args) -> None:
    now = datetime.now(timezone.utc)
    values = storm(args.count, now)
    changes = sum(1 for v in values if isinstance(v, EnrichedAlert))
    database = Database()
    with database as history:
        history = history.model_copy(update={"batch_rows": args.batch_rows})

        async def run(label: str):
            processor = HistoryProcessor(history)
            await feed(processor, values[:30], now)  # open the pool, first maintenance
            wall, cpu = time.perf_counter(), time.process_time()
            server_cpu = server_cpu_seconds(database.server)
            await feed(processor, values[30:], now)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if server_cpu is not None:
                server_cpu = server_cpu_seconds(database.server) - server_cpu
            totals = processor.totals
            await processor.aclose()
            measured = changes - sum(1 for v in values[:30] if isinstance(v, EnrichedAlert))
            rows = len(values) - 30
            print(f"{label}: {measured:,} changes + {rows - measured:,} notification/outcome rows in {wall:.2f} s: "
                  f"{measured / wall:,.0f} changes/s, {rows / wall:,.0f} rows/s, "
                  f"Python CPU {cpu / rows * 1e6:.0f} µs/row; inserted {totals.changes_inserted:,} changes, "
                  f"{totals.notifications_inserted:,} notifications, {totals.outcomes_inserted:,} outcomes")
            if server_cpu is not None:
                per_change = (cpu + server_cpu) / measured
                print(f"  CPU per change (its notification and outcome rows included): Python {cpu / measured * 1e6:.0f} µs "
                      f"+ PostgreSQL {server_cpu / measured * 1e6:.0f} µs = {per_change * 1e6:.0f} µs: "
                      f"{1 / per_change:,.0f} changes/s per core of CPU")
        asyncio.run(run("first write"))
        asyncio.run(run("replay (all conflicts)"))
        with psycopg.connect(history.dsn) as conn:
            total = conn.execute("SELECT count(*) FROM alert_changes").fetchone()[0]
            print(f"alert_changes holds {total:,} rows (changes offered twice: {changes:,} each time)")


# -- queries -----------------------------------------------------------------------------------------------

def corpus(rows: int, alerts: int, now: datetime, rng: random.Random):
    """Alert changes over 7 days; a few alerts flap within the last hour."""
    weights = [rng.paretovariate(1.3) for _ in range(alerts)]
    scale = rows / sum(weights)
    span = timedelta(days=7)
    out = []
    for index, weight in enumerate(weights):
        count = max(2, round(weight * scale))
        team = TEAMS[index % len(TEAMS)]
        labels = {"alertname": ALERTNAMES[index % len(ALERTNAMES)], "instance": f"host-{index}", "job": "node",
                  "team": team, "env": "prod" if index % 3 else "staging"}
        flapping = index % 50 == 0
        first = now - (timedelta(hours=1) if flapping else span * rng.random())
        step = (now - first) / (count + 1)
        for n in range(count):
            change = "new" if n % 2 == 0 else "resolved"
            if n % 7 == 3:
                change = "updated" if change == "new" else change
            out.append(change_record(labels, change, first + step * (n + 1), team))
    rng.shuffle(out)
    return out[:rows]


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return (f"p50 {q[49] * 1000:7.1f}  p95 {q[94] * 1000:7.1f}  p99 {q[98] * 1000:7.1f}  "
            f"max {samples[-1] * 1000:7.1f} ms")


def load_corpus(history: HistorySettings, args, now: datetime) -> list[str]:
    rng = random.Random(15)
    values = corpus(args.rows, args.alerts, now, rng)
    fingerprints = sorted({v.alert.fingerprint for v in values})
    extra = []
    for i, value in enumerate(values):
        if value.change == "new" and i % 5 == 0:
            note = notification_for(value, f"n-{i}")
            extra += [note, outcome_for(note, "retrying" if i % 10 == 0 else "delivered")]
    writer_history = history.model_copy(update={"batch_rows": 10000})

    async def run():
        processor = HistoryProcessor(writer_history)
        started = time.perf_counter()
        batch = 50000
        everything = values + extra
        for offset in range(0, len(everything), batch):
            await feed(processor, everything[offset:offset + batch], now)
        await processor.aclose()
        return time.perf_counter() - started
    seconds = asyncio.run(run())
    print(f"loaded {len(values):,} alert changes of {len(fingerprints):,} alerts, {len(extra) // 2:,} notifications "
          f"and as many outcomes in {seconds:.0f} s ({(len(values) + len(extra)) / seconds:,.0f} rows/s)")
    with psycopg.connect(history.dsn, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
        sizes = conn.execute("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                             "JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent "
                             "WHERE p.relname = 'alert_changes'").fetchone()[0]
        print(f"alert_changes on disk (tables + indexes): {sizes}")
    return fingerprints


def query_cases(history: HistorySettings, fingerprints: list[str], rng: random.Random):
    team = lambda: rng.choice(TEAMS)  # noqa: E731
    name = lambda: rng.choice(ALERTNAMES)  # noqa: E731
    return {
        "timeline (one alert, limit 100)": lambda now: ("timeline", rng.choice(fingerprints), now),
        "search team=X, 24h, limit 100": lambda now: ("search", [f'team="{team()}"'], "24h", now),
        "search alertname=X,env=prod, 7d, limit 100": lambda now: ("search", [f'alertname="{name()}"', 'env="prod"'], "7d", now),
        "search instance=host-N, 7d": lambda now: ("search", [f'instance="host-{rng.randrange(len(fingerprints))}"'], "7d", now),
        "search alertname=~Disk.* (regex), 24h": lambda now: ("search", ['alertname=~"Disk.*"'], "24h", now),
        "search team!=X,instance=~host-1.* (regex), 7d": lambda now: ("search", [f'team!="{team()}"', 'instance=~"host-1.*"'], "7d", now),
        "top by alertname, 24h": lambda now: ("top", "alertname", "24h", now),
        "top by team, 7d": lambda now: ("top", "team", "7d", now),
        "top alerts (per fingerprint), 24h": lambda now: ("top", None, "24h", now),
        "flapping (2 in 30m)": lambda now: ("flapping", None, None, now),
        "flapping (5 in 6h)": lambda now: ("flapping", 5, "6h", now),
        "receivers summary, 24h": lambda now: ("receivers", "24h", now),
        "receiver notifications, 24h, limit 100": lambda now: ("notifications", team(), "24h", now),
    }


def run_case(conn, history: HistorySettings, spec):
    kind = spec[0]
    if kind == "timeline":
        return queries.timeline_page(lambda q: queries.run_sync(conn, q), history, spec[1], None, None, 100, None, spec[2])
    if kind == "search":
        plan = queries.search(history, spec[1], spec[2], None, 100, None, spec[3])
        return queries.search_page_sync(conn, plan, history.query_max_scan_rows)
    if kind == "top":
        return queries.run_sync(conn, queries.top(history, spec[1], [], spec[2], None, None, spec[3]))
    if kind == "flapping":
        return queries.run_sync(conn, queries.flapping(history, spec[1], spec[2], [], None, spec[3]))
    if kind == "receivers":
        return queries.run_sync(conn, queries.receivers_summary(history, spec[1], None, spec[2]))
    return queries.run_sync(conn, queries.receiver_notifications(history, spec[1], spec[2], None, 100, None, spec[3]))


def measure_queries(args) -> None:
    now = datetime.now(timezone.utc)
    with Database() as history:
        fingerprints = load_corpus(history, args, now)
        rng = random.Random(7)
        from pipeline.db.pool import connect

        with connect(history, "bench") as conn:
            for label, make in query_cases(history, fingerprints, rng).items():
                for _ in range(3):  # warm the cache and the plan
                    run_case(conn, history, make(now))
                samples, sizes = [], []
                for _ in range(args.runs):
                    spec = make(now)
                    started = time.perf_counter()
                    result = run_case(conn, history, spec)
                    samples.append(time.perf_counter() - started)
                    items = result.items if hasattr(result, "items") and not isinstance(result, dict) else (
                        result.get("items", result.get("changes", [])))
                    sizes.append(len(items))
                print(f"{label:48s} {percentiles(samples)}   rows/answer {statistics.mean(sizes):6.1f}")
                conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("ingest")
    one.add_argument("--count", type=int, default=100_000)
    one.add_argument("--batch-rows", type=int, default=5000)
    two = commands.add_parser("queries")
    two.add_argument("--rows", type=int, default=1_000_000)
    two.add_argument("--alerts", type=int, default=20_000)
    two.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    ingest(args) if args.command == "ingest" else measure_queries(args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
