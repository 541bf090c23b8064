"""Benchmark (not a test): the pure core's CPU per alert, every stage's semantics in one process, no Kafka.

    python -m bench.core [--alerts 20000] [--groups 10000] [--repeats 3]

bench/e2e's alerts and routing, each taken through the functions the stage workers call —
normalize_record, dedup_record, the rules classification, mute_record, route_record, the group
dispatcher's insert and flush — record bytes in, record bytes out, as the workers do, but with no
Kafka, Faust, HTTP or second process in between. Two shapes:

    open   every alert's group is flushed as it comes (group_wait 0): one notification per new group
    join   no flush per alert: alerts join groups that flush every group_interval (the sustained shape)

What it tells: the floor of CPU per alert for these semantics in this Python code, whatever the
deployment. bench/e2e's targets need 10,000 alerts/s on 2 cores, i.e. ≤ 200 µs per alert for
everything including the broker; this prints how much of that the semantics alone take.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import yaml

from bench.e2e.__main__ import route
from bench.e2e.load import _body
from pipeline import wire
from pipeline.alertmanager_config import load_alertmanager_config
from pipeline.classification.config import ClassificationConfig
from pipeline.classification.rules import classify_by_rules
from pipeline.grouping.dispatcher import Dispatcher
from pipeline.muting.view import MutingView
from pipeline.stages.classify import decode_deduped, rule_classified
from pipeline.stages.dedup import dedup_record
from pipeline.stages.group import routed_alert
from pipeline.stages.mute import mute_record
from pipeline.stages.normalize import normalize_record
from pipeline.stages.route import route_record

STEPS = ("normalize", "dedup", "classify", "mute", "route", "group insert", "group flush")


def raw_records(n: int, groups: int, now: datetime) -> list[bytes]:
    """alerts.raw values as the bridge writes them, for bench/e2e's alerts."""
    starts = now.isoformat().replace("+00:00", "Z")
    ends = (now + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    out = []
    for first in range(0, n, 100):
        for alert in orjson.loads(_body("core", first, min(100, n - first), groups, starts, ends)):
            out.append(orjson.dumps({**alert, "source": "bench", "source_format": "alertmanager_v2",
                                     "received_at": now.isoformat()}))
    return out


def run_once(raws: list[bytes], config, flush_each: bool) -> dict[str, float]:
    """CPU seconds per step for one pass over ``raws`` with fresh state."""
    tree, view = config.routing_tree(), MutingView.from_config(config)
    rules = ClassificationConfig()
    dispatcher = Dispatcher(config, external_url="http://bench")
    dedup_state: dict[bytes, bytes] = {}
    spent: dict[str, float] = defaultdict(float)
    clock = time.process_time
    now = datetime.now(timezone.utc)
    for raw in raws:
        t0 = clock()
        normalized = normalize_record(raw, timestamp=now, resolve_timeout=timedelta(minutes=5), max_bytes=1 << 20)
        t1 = clock()
        deduped = dedup_record(normalized.value, dedup_state.get(normalized.key), now)
        dedup_state[normalized.key] = deduped.stored
        t2 = clock()
        event = decode_deduped(deduped.forward)
        classified = wire.encode(rule_classified(event, classify_by_rules(event.alert.labels, rules)))
        t3 = clock()
        _key, muted = mute_record(classified, view, now)
        t4 = clock()
        routed = route_record(muted, tree)
        t5 = clock()
        keys = set()
        for _group_key, value in routed.routed:
            alert = routed_alert(value)
            dispatcher.insert(alert.routes[0], alert.alert, now, alert.received_at)
            keys.add(alert.routes[0].group_key)
        dispatcher.group_writes(keys)
        t6 = clock()
        if flush_each:
            result = dispatcher.flush_due(now + timedelta(seconds=1), lambda _a, _n: False, limit=1_000_000)
            for notification in result.notifications:
                wire.encode(notification)
            dispatcher.writes_for(result.touched)
        t7 = clock()
        for step, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6)):
            spent[step] += seconds
    return spent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n\n")[0])
    p.add_argument("--alerts", type=int, default=20_000)
    p.add_argument("--groups", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(yaml.safe_dump(route("http://127.0.0.1:1/bench")))
        config = load_alertmanager_config(str(path))
    raws = raw_records(args.alerts, args.groups, datetime.now(timezone.utc))
    gc.collect()
    gc.freeze()  # as the workers do (pipeline.runtime.housekeeping): the set-up is not collected over and over
    print(f"{args.alerts:,} alerts in {args.groups:,} groups, {args.repeats} passes per shape; "
          f"µs of CPU per alert, median (min–max) of the passes")
    for shape, flush_each in (("open", True), ("join", False)):
        passes = [run_once(raws, config, flush_each) for _ in range(args.repeats)]
        print(f"\nshape {shape}: " + ("every group flushed as it comes (group_wait 0)" if flush_each
                                      else "no flush per alert (groups flush every group_interval)"))
        for step in STEPS:
            values = [spent[step] / args.alerts * 1e6 for spent in passes]
            print(f"  {step:<13} {statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})")
        totals = [sum(spent.values()) / args.alerts * 1e6 for spent in passes]
        total = statistics.median(totals)
        print(f"  {'total':<13} {total:7.1f} ({min(totals):.1f}–{max(totals):.1f})"
              f"  → {1e6 / total:,.0f} alerts/s per core; 10,000 alerts/s would take {10_000 * total / 1e6:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
