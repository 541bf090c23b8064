"""What every stage worker does for its own process, beside the stage: log level, heap and memory."""

from __future__ import annotations

import asyncio
import gc
import logging

import faust

RETURN_FREED_MEMORY_S = 30.0
FREEZE_HEAP_S = 10.0
FULL_COLLECTION_S = 3600.0


def _malloc_trim() -> None:
    """glibc's malloc_trim(0); nothing where the C library has no such call."""
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc = None


def install_housekeeping(app: faust.App, log_level: str) -> None:
    """Add the process's housekeeping tasks and timers to a stage's Faust app."""

    @app.task
    async def root_logger_back_to_the_configured_level() -> None:
        # Faust's worker sets the root logger to DEBUG for its startup spinner (faust/worker.py,
        # _setup_spinner_handler) and leaves it there: every library's debug() call then builds a
        # LogRecord that the handler drops (aiokafka logs per fetch request). Only the handler's
        # level was meant to apply; loggers with a level of their own keep it.
        logging.getLogger().setLevel(log_level.upper())

    freezes = {"since_full": 0}

    @app.timer(interval=FREEZE_HEAP_S)
    async def freeze_the_heap() -> None:
        # Python's full collections scan every live object: with 100k alerts in the group stage
        # one took 258 ms (measured), paused the stage, and recurs as state grows by a quarter.
        # Frozen objects are never scanned again (refcounting still frees them); what was created
        # since the last freeze is collected first, so only that is scanned (28 ms per 10k alerts).
        # A cycle through an object frozen while alive is only found by a full collection: one
        # runs every FULL_COLLECTION_S, so such garbage cannot pile up.
        freezes["since_full"] += 1
        if freezes["since_full"] * FREEZE_HEAP_S >= FULL_COLLECTION_S:
            freezes["since_full"] = 0
            gc.unfreeze()
        gc.collect()
        gc.freeze()

    @app.timer(interval=RETURN_FREED_MEMORY_S)
    async def return_freed_memory() -> None:
        # Table values are rewritten whole (a group's value on every batch that touches it) and
        # librdkafka's threads allocate from their own malloc arenas: glibc keeps the freed pieces
        # mapped, so a stage's RSS tracks its peak, not what it holds. malloc_trim hands them back
        # (in a thread: ctypes drops the GIL, and a large heap takes a while to walk).
        await asyncio.to_thread(_malloc_trim)
