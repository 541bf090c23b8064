"""``python -m bench.chaos [--seconds 300] [--rate 200] [--faults kill,target,redis,broker]``: the fault
suite (bench/chaos/scenario.py) at full length; figures go to bench/chaos/RESULTS.md. The CI runs a
short version (tests/integration/test_chaos.py)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.scenario import FAULTS, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rate", type=float, default=200.0, help="new alerts per second")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--group-interval", type=int, default=20, help="seconds")
    args = parser.parse_args()
    faults = tuple(f for f in args.faults.split(",") if f)
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        began = time.monotonic()
        report = run(Path(tmp), seconds=args.seconds, rate=args.rate, faults=faults,
                     drain_timeout_s=args.drain_timeout, group_interval_s=args.group_interval)
    print(f"load average after: {os.getloadavg()}; {time.monotonic() - began:.0f} s in all")
    print("\n".join(report.lines()))
    return 0 if not report.lost and not report.delivered_twice else 1


if __name__ == "__main__":
    sys.exit(main())
