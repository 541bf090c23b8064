"""The benchmark harnesses keep running on the current stages: bench/core drives the processors through
the in-memory runtime, bench/e2e imports what it starts the pipeline with (both broke silently before
when the stages moved to processors and chains)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import bench.e2e.__main__ as e2e
from bench.core.__main__ import raw_records, run_once, settings_for
from bench.e2e.report import prepend
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


def test_e2e_results_are_added_above_the_earlier_runs(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# End-to-end benchmark\n\n## Earlier run\n\nold figures\n")

    prepend(results, "## Smoke run\n\nnew figures\n")

    text = results.read_text()
    assert text.startswith("# End-to-end benchmark\n\n## Smoke run\n\nnew figures\n\n## Earlier run\n")
    assert text.endswith("old figures\n")


def test_e2e_topology_option_names_the_topology_files():
    for name in ("default", "split"):
        assert (TOPOLOGIES_DIR / f"{name}.yaml").exists()
    with pytest.raises(SystemExit):
        e2e.main(["--topology", "chained-nowhere", "--no-write"])
