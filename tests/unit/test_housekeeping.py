"""The stage workers' process housekeeping (pipeline.runtime.housekeeping), run by hand."""

from __future__ import annotations

import asyncio
import gc
import logging

from pipeline.runtime import housekeeping


class RecordingApp:
    """Collects what install_housekeeping registers, as a Faust app would schedule it."""

    def __init__(self):
        self.tasks, self.timers = [], {}

    def task(self, fn):
        self.tasks.append(fn)
        return fn

    def timer(self, interval):
        def register(fn):
            self.timers[fn.__name__] = (interval, fn)
            return fn
        return register


def test_timers_freeze_the_heap_and_unfreeze_it_for_a_full_collection_once_an_hour(monkeypatch):
    app = RecordingApp()
    housekeeping.install_housekeeping(app, "warning")
    interval, freeze = app.timers["freeze_the_heap"]
    assert interval == housekeeping.FREEZE_HEAP_S
    unfreezes = []
    real_unfreeze = gc.unfreeze
    monkeypatch.setattr(gc, "unfreeze", lambda: (unfreezes.append(1), real_unfreeze()))
    try:
        asyncio.run(freeze())
        assert gc.get_freeze_count() > 0
        per_hour = int(housekeeping.FULL_COLLECTION_S / housekeeping.FREEZE_HEAP_S)
        for _ in range(per_hour - 2):
            asyncio.run(freeze())
        assert unfreezes == []
        asyncio.run(freeze())  # the hour's last tick: everything is scanned once
        assert unfreezes == [1]
        assert gc.get_freeze_count() > 0  # and frozen again
    finally:
        real_unfreeze()


def test_the_root_logger_goes_back_to_the_configured_level():
    app = RecordingApp()
    housekeeping.install_housekeeping(app, "warning")
    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.DEBUG)  # what Faust's worker leaves behind
        for task in app.tasks:
            asyncio.run(task())
        assert root.level == logging.WARNING
    finally:
        root.setLevel(before)


def test_malloc_trim_runs_or_is_a_no_op():
    app = RecordingApp()
    housekeeping.install_housekeeping(app, "info")
    _, trim = app.timers["return_freed_memory"]
    asyncio.run(trim())  # glibc here; elsewhere nothing, never an error
