"""The benchmark harnesses keep running on the current stages: bench/core drives the processors through
the in-memory runtime, bench/e2e imports what it starts the pipeline with (both broke silently before
when the stages moved to processors and chains)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import bench.e2e.__main__ as e2e
from bench.core.__main__ import raw_records, run_once, settings_for
from bench.e2e.report import RUNS_MARKER, prepend
from pipeline.paths import TOPOLOGIES_DIR


@pytest.mark.parametrize("topology", ["default", "split"])
def test_core_bench_flushes_one_notification_per_new_group(tmp_path, topology):
    now = datetime.now(timezone.utc)
    raws = raw_records(200, 50, now)   # every group gets four alerts; only its first one flushes it
    topology_file = TOPOLOGIES_DIR / f"{topology}.yaml"

    opened = run_once(raws, settings_for(tmp_path, topology_file, "0s"), flush_each=True, now=now)
    joined = run_once(raws, settings_for(tmp_path, topology_file, "5m"), flush_each=False, now=now)

    assert opened["_notifications"] == 50
    assert joined["_notifications"] == 0
    for stage in ("normalize", "dedup", "classify", "mute", "route", "group"):
        assert opened[stage] > 0, stage   # every stage's processor was called


def test_e2e_results_are_added_below_the_preamble_above_the_earlier_runs(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# End-to-end benchmark\n\nHow to run it.\n\n## Earlier run\n\nold figures\n")

    prepend(results, "## Smoke run\n\nnew figures\n")

    assert results.read_text() == ("# End-to-end benchmark\n\nHow to run it.\n\n## Smoke run\n\nnew figures\n\n"
                                   "## Earlier run\n\nold figures\n")


def test_e2e_results_of_a_first_run(tmp_path):
    results = tmp_path / "RESULTS.md"
    prepend(results, "## First run\n")
    assert results.read_text().endswith("\n\n## First run\n")
    assert results.read_text().startswith("# ")


def test_e2e_topology_option_names_the_topology_files():
    for name in ("default", "split"):
        assert (TOPOLOGIES_DIR / f"{name}.yaml").exists()
    with pytest.raises(SystemExit):
        e2e.main(["--topology", "chained-nowhere", "--no-write"])


def test_e2e_results_go_below_the_marker_when_there_is_one(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Title\n\n## How to run\n\ncommands\n\n{RUNS_MARKER}\n\n## Earlier run\n")

    prepend(results, "## New run\n")

    assert results.read_text() == f"# Title\n\n## How to run\n\ncommands\n\n{RUNS_MARKER}\n\n## New run\n\n## Earlier run\n"
