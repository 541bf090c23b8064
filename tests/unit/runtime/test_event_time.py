"""Event-time watermarks: which chains report to which, what a chain reports, and the watermark a
chain reads from the reports (pipeline.runtime.event_time)."""

import pytest

from pipeline.paths import TOPOLOGIES_DIR
from pipeline.runtime.event_time import Progress, Watermarks, encode_report, report_targets
from pipeline.stages import EVENT_TIME_STAGES, PROCESSORS, processor_class
from pipeline.topology import load_topology


def test_the_chains_before_the_group_stage_report_to_its_input():
    default = report_targets(load_topology(TOPOLOGIES_DIR / "default.yaml"), EVENT_TIME_STAGES)
    assert default == {"normalize": {"alerts.routed"}}
    split = report_targets(load_topology(TOPOLOGIES_DIR / "split.yaml"), EVENT_TIME_STAGES)
    assert split == {"normalize": {"alerts.normalized"}, "dedup": {"alerts.deduped"},
                     "classify": {"alerts.classified"}, "flapping": {"alerts.marked"}, "mute": {"alerts.muted"},
                     "route": {"alerts.routed"}}


def test_event_time_stages_are_the_processors_that_want_event_time():
    wanting = {name for name in PROCESSORS if processor_class(name).WANTS_EVENT_TIME}
    assert wanting == EVENT_TIME_STAGES


def test_progress_reports_below_the_oldest_open_record():
    progress = Progress(4)
    progress.handled(0, 100)
    progress.started(0, 120)
    progress.handled(0, 130)  # a later record, synchronous, done before the open one
    assert progress.report([0, 1]) == {0: 119}
    progress.finished(0, 120)
    assert progress.report([0, 1]) == {0: 130}
    assert not progress.busy(0)
    progress.forget([1])
    assert progress.report([0]) == {}


def test_the_watermark_is_the_minimum_over_every_upstream_partition():
    marks = Watermarks()
    assert marks.watermark_ms(0) is None
    assert marks.observe(0, encode_report(3, {0: 100, 1: 90}))
    assert marks.watermark_ms(0) is None          # upstream partition 2 not reported yet
    assert marks.observe(0, encode_report(3, {2: 95}))  # another worker of the upstream chain
    assert marks.watermark_ms(0) == 90
    assert not marks.observe(0, encode_report(3, {1: 80}))  # reports never move it back
    assert marks.watermark_ms(0) == 90
    assert marks.watermark_ms(1) is None          # per partition of our input


@pytest.mark.parametrize("junk", [b"", b"{", b'{"n": 2}', b'{"n": "x", "p": {}}', b'[]', b'{"n": 1, "p": {"a": 1}}'])
def test_a_report_that_is_not_ours_is_ignored(junk):
    marks = Watermarks()
    assert not marks.observe(0, junk)
    assert marks.watermark_ms(0) is None

