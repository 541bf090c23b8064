"""Benchmark (not a test): the what-if replay's speed, alert records replayed per second.

    python -m bench.whatif [--series 300] [--hours 24] [--resend 60] [--seed 1]

A synthetic day of traffic generated in memory, as Prometheus sends it: ``--series`` alert series, each
firing in episodes (10 min to 3 h, then quiet for 30 min to 6 h), re-sent every ``--resend`` seconds while
firing with endsAt four re-sends ahead, and sent once resolved when an episode ends; a few silences
written during the day. **Kafka is skipped**: the timeline is built as pipeline.whatif.recorded would
build it from alerts.raw and silences, and handed to the replay (pipeline.whatif.report.compare), which
runs it twice — under the current configuration and under a candidate (a new pager route with continue,
a changed group_by, a new inhibit rule, as in tests/unit/whatif/timeline.py) — then compares. Reading a
day from the broker is not measured here.

Prints the records, the wall and CPU seconds of each replay and of the diff, the rate (alert records per
wall second, per replay), the load average before and after, and the diff's headline figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.amconfig import parse_config
from pipeline.classification.config import parse_classification_file
from pipeline.fingerprint import alert_fingerprint
from pipeline.models import Matcher, RawAlert, Silence
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.topology import load_topology
from pipeline.whatif.diff import diff
from pipeline.whatif.replay import RAW, Recorded, Setup, Timeline, replay
from tests.unit.whatif.timeline import CANDIDATE, CURRENT, RULES

NAMES = ["DbDown", "DbSlow", "WebErr", "HighLatency", "DiskPressure", "QueueBacklog", "CertExpiry", "NodeNotReady"]
TEAMS = ["db", "db", "web", "web", "api", "api", "ops", "ops"]


def synthetic_day(series: int, hours: float, resend_s: float, seed: int, start: datetime) -> Timeline:
    rng = random.Random(seed)
    end = start + timedelta(hours=hours)
    records: list[Recorded] = []
    for i in range(series):
        kind = i % len(NAMES)
        labels = {"alertname": NAMES[kind], "team": TEAMS[kind], "cluster": f"c{i % 3}", "instance": f"host-{i}",
                  "severity": "page" if i % 20 == 0 else rng.choice(["critical", "warning", "warning"])}
        key = alert_fingerprint(labels).encode()
        t = start + timedelta(seconds=rng.uniform(0, 6 * 3600))
        while t < end:
            episode_end = min(end, t + timedelta(seconds=rng.uniform(600, 3 * 3600)))
            began, sent = t, t
            while sent < episode_end:
                raw = RawAlert(labels=labels, starts_at=began, ends_at=sent + timedelta(seconds=4 * resend_s),
                               source="bench", source_format="direct", received_at=sent)
                records.append(Recorded(int(sent.timestamp() * 1000), key, wire.encode(raw), (i % 6, len(records), 0)))
                sent += timedelta(seconds=resend_s)
            if episode_end < end:
                raw = RawAlert(labels=labels, starts_at=began, ends_at=episode_end, status="resolved",
                               source="bench", source_format="direct", received_at=episode_end)
                records.append(Recorded(int(episode_end.timestamp() * 1000), key, wire.encode(raw), (i % 6, len(records), 0)))
            t = episode_end + timedelta(seconds=rng.uniform(1800, 6 * 3600))
    silences = []
    for n in range(6):  # a silence every 4 h on one cluster's warning alerts, for an hour
        written = start + timedelta(hours=4 * n + 1)
        s = Silence(id=f"s{n}", matchers=[Matcher(name="cluster", value=f"c{n % 3}"), Matcher(name="severity", value="warning")],
                    starts_at=written, ends_at=written + timedelta(hours=1), updated_at=written, created_by="bench",
                    comment="maintenance")
        silences.append(Recorded(int(written.timestamp() * 1000), s.id.encode(), wire.encode(s)))
    return Timeline(RAW, records, silences, start, end)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--resend", type=float, default=60.0, help="seconds between re-sends of a firing alert")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    topology = load_topology(TOPOLOGIES_DIR / "default.yaml")
    rules = parse_classification_file(RULES)
    current = Setup("current", parse_config(CURRENT), rules, "current.yml")
    candidate = Setup("candidate", parse_config(CANDIDATE), rules, "candidate.yml")
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    load_before = os.getloadavg()
    t = time.perf_counter()
    timeline = synthetic_day(args.series, args.hours, args.resend, args.seed, start)
    print(f"generated {len(timeline.alerts):,} alert records, {len(timeline.silences)} silences over "
          f"{args.hours:g} h in {time.perf_counter() - t:.1f} s (not counted)")
    outcomes = []
    for setup in (current, candidate):
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = replay(timeline, setup, topology)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        outcomes.append(outcome)
        print(f"{setup.name:9} replay: {outcome.alert_records:,} records, {len(outcome.sent):,} notifications, "
              f"{outcome.ticks:,} ticks in {wall:.1f} s wall, {cpu:.1f} s CPU: "
              f"{outcome.alert_records / wall:,.0f} records/s wall, {outcome.alert_records / cpu:,.0f} /s CPU")
    wall, cpu = time.perf_counter(), time.process_time()
    d = diff(outcomes[0], outcomes[1], start)
    print(f"diff: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU; "
          + ", ".join(f"{r.receiver}: +{len(r.added)} -{len(r.removed)} ~{len(r.changed)} ={r.unchanged}"
                      for r in d.receivers.values())
          + f"; newly inhibited {len(d.newly_inhibited)}; pages lost {len(d.pages_lost)}, gained {len(d.pages_gained)}")
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores); "
          f"Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
