"""``(a+)+b`` against a 4 KiB value, everywhere a user's regex runs: API filter, silences, inhibition,
routing, relabel, classification rules, enrichment triggers.

A backtracking engine (Python's ``re``, which the matchers used before RE2) needs 2^n steps here: 26
``a`` took 3.9 s in the API filter, 4096 would never end. So the probe runs in a child process that is
killed after a timeout, and the place that did not answer is named. The CPU-time bound (100 ms per
place) is deliberately generous — RE2 takes microseconds to a few milliseconds — and is there only
because it separates linear from exponential behaviour; it is no speed target (those are benchmarks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("linear_time_probe.py")
PLACES = ["api filter", "silences", "inhibition", "routing", "relabel", "classification", "enrichment trigger"]
CPU_BOUND_S = 0.1
TIMEOUT_S = 60


def test_evil_regexes_run_in_linear_time_everywhere():
    repo = PROBE.parents[2]
    try:
        done = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=repo)
        output, errors = done.stdout, done.stderr
        assert done.returncode == 0, errors
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        errors = f"timed out after {TIMEOUT_S} s"
    results = {line["place"]: line for line in map(json.loads, output.splitlines())}
    missing = [place for place in PLACES if place not in results]
    assert not missing, f"no answer from {missing[0]!r} ({errors}): a backtracking regex engine?"
    slow = {place: round(r["cpu_s"], 4) for place, r in results.items() if r["cpu_s"] >= CPU_BOUND_S}
    assert not slow, f"CPU seconds over {CPU_BOUND_S}: {slow}"
    # and the regexes did their job: nothing matched (there is no "b")
    assert results["api filter"]["verdict"] == 0
    assert results["silences"]["verdict"] == []
    assert results["inhibition"]["verdict"] is False
    assert results["routing"]["verdict"] == ["x"]
    assert results["relabel"]["verdict"] == ["aaaaaaaa", "instance"]
    assert results["classification"]["verdict"] == "P3"
    assert results["enrichment trigger"]["verdict"] is False
