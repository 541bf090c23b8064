"""The history stage: every alert state change, notification and delivery outcome into PostgreSQL.

Inputs (ports; the topology maps them to topics): the alert changes of ``alerts.enriched``
(EnrichedAlert), the ``notifications`` (Notification) and the sink's ``notifications.outcomes``
(DeliveryOutcome). Records are told apart by their type, so the port names are the topology's choice;
a raw ``bytes`` value is read as a DeliveryOutcome. Nothing is emitted.

``process`` turns a record into a row (pipeline.history.rows) and buffers it; ``flush`` — which the
runtime awaits before it commits the offsets of what was processed — writes the buffer in one
transaction (pipeline.history.writer). So an offset is committed only once its row is in PostgreSQL,
and a crash replays records whose rows may already be there: natural keys make that write nothing.
The buffer is bounded: once it holds ``history.batch_rows`` rows, ``process`` hands it to a background
write and starts the next one (writing early is always safe, for the same reason); at most one batch is
in flight, so at most twice ``batch_rows`` rows are held, and ``flush`` waits for it.

A failed write is retried with backoff until it succeeds (the rows stay buffered, no offset moves):
PostgreSQL down holds the stage back, it never loses history. Cancellation (shutdown) stops the retry;
the runtime then does not commit, and the records are read again.

Maintenance (partitions ahead, archive, drop) runs from ``flush`` every
``history.maintenance_interval_s`` on a connection of its own, so the writes are not held up by it.

The worker refuses to start against a database whose schema is not the code's
(``require_current_schema``: "run `pipeline db migrate`").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pipeline.history import metrics
from pipeline.history.records import DeliveryOutcome, OutcomeDecodeError, decode_outcome
from pipeline.history.rows import RowError, change_row, notification_row, outcome_row
from pipeline.history.writer import Batch, HistoryWriter, WriteReport, configure_connection
from pipeline.settings import HistorySettings, Settings
from pipeline.stages.processor import Emit, Processor, Record, Rejected, State

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


class HistoryProcessor(Processor):
    STAGE: ClassVar[str] = "history"
    OUTPUTS: ClassVar[tuple[str, ...]] = ()
    MAX_IN_FLIGHT: ClassVar[int] = 1  # one buffer; records are cheap to buffer, the write is batched

    def __init__(self, history: HistorySettings, pool=None, clock: Callable[[], datetime] | None = None):
        """``pool``: an async psycopg pool whose connections ran ``configure_connection`` (tests pass
        one); by default one is made from ``history`` and opened at the first write."""
        self.history = history
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._pool = pool
        self._own_pool = pool is None
        self._writer: HistoryWriter | None = None
        self._batch = Batch()
        self._lock = asyncio.Lock()
        self._in_flight: asyncio.Task | None = None
        self._in_flight_rows = 0
        self._next_maintenance = 0.0
        self.totals = WriteReport()  # what this processor wrote since it started (metrics, tests)

    @classmethod
    def from_settings(cls, settings: Settings, topology: Any = None) -> HistoryProcessor:
        return create(settings, topology)

    # -- the processor interface ------------------------------------------------------------------
    async def process(self, record: Record, state: State, now: datetime) -> Sequence[Emit] | Rejected:
        problem = self._buffer(record.value, now)
        if problem is not None:
            return problem
        if len(self._batch) >= self.history.batch_rows:
            await self._hand_off()
        return ()

    async def flush(self) -> None:
        async with self._lock:
            await self._settle()
            if len(self._batch):
                batch, self._batch = self._batch, Batch()
                await self._write_counted(batch)
            if time.monotonic() >= self._next_maintenance:
                await self._maintain()

    async def aclose(self) -> None:
        if self._in_flight is not None:
            self._in_flight.cancel()
            await asyncio.gather(self._in_flight, return_exceptions=True)
            self._in_flight = None
        if self._own_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None
            self._writer = None

    @property
    def buffered(self) -> int:
        """Rows not yet known to be written: the buffer and the batch being written."""
        return len(self._batch) + self._in_flight_rows

    # -- writing --------------------------------------------------------------------------------------
    async def _hand_off(self) -> None:
        """Write the full buffer in the background while the next one fills: the CPU of buffering and
        PostgreSQL's work on the previous batch overlap. At most one batch is in flight (so at most
        2 × batch_rows rows are held); ``flush`` waits for it."""
        await self._settle()
        batch, self._batch = self._batch, Batch()
        self._in_flight_rows = len(batch)
        self._in_flight = asyncio.create_task(self._write_counted(batch))

    async def _settle(self) -> None:
        task, self._in_flight = self._in_flight, None
        if task is not None:
            try:
                await task
            finally:
                self._in_flight_rows = 0

    async def _write_counted(self, batch: Batch) -> None:
        metrics.BUFFERED.set(self.buffered)
        try:
            report = await self._write(batch)
        except BaseException:
            # Not written (cancelled): the rows go back, first in line, so a later flush writes them
            # before its offsets are committed (newer rows may have joined meanwhile).
            for row in self._batch.changes.values():
                batch.add_change(row)
            for row in self._batch.notifications.values():
                batch.add_notification(row)
            for row in self._batch.outcomes.values():
                batch.add_outcome(row)
            self._batch = batch
            raise
        self.totals.changes_inserted += report.changes_inserted
        self.totals.notifications_inserted += report.notifications_inserted
        self.totals.outcomes_inserted += report.outcomes_inserted
        self.totals.dropped_too_old += report.dropped_too_old
        for table, offered, written in (("alert_changes", len(batch.changes), report.changes_inserted),
                                        ("notifications", len(batch.notifications), report.notifications_inserted),
                                        ("delivery_outcomes", len(batch.outcomes), report.outcomes_inserted)):
            metrics.ROWS_OFFERED.labels(table).inc(offered)
            metrics.ROWS_WRITTEN.labels(table).inc(written)
        if report.dropped_too_old:
            metrics.ROWS_DROPPED.labels("any").inc(report.dropped_too_old)
        metrics.BUFFERED.set(len(self._batch))

    # -- internals ------------------------------------------------------------------------------------
    def _buffer(self, value: Any, now: datetime) -> Rejected | None:
        try:
            if isinstance(value, (bytes, bytearray, memoryview)):
                value = decode_outcome(bytes(value))
            if isinstance(value, DeliveryOutcome):
                row, add = outcome_row(value), self._batch.add_outcome
            elif hasattr(value, "alert") and hasattr(value, "routes"):  # EnrichedAlert
                row, add = change_row(value), self._batch.add_change
            elif hasattr(value, "flush_seq") and hasattr(value, "alerts"):  # Notification
                row, add = notification_row(value), self._batch.add_notification
            else:
                return Rejected("UnexpectedRecord", f"the history stage stores EnrichedAlert, Notification and "
                                                    f"DeliveryOutcome records, not {type(value).__name__}")
        except (RowError, OutcomeDecodeError) as exc:
            return Rejected(type(exc).__name__, str(exc))
        ahead = row.at - now
        if ahead > timedelta(seconds=self.history.max_future_s):
            return Rejected("FutureTimestamp", f"record time {row.at.isoformat()} is {ahead} ahead of the clock "
                                               f"(history.max_future_s = {self.history.max_future_s:g})")
        add(row)
        return None

    async def _ensure_writer(self) -> HistoryWriter:
        if self._writer is None:
            if self._pool is None:
                from pipeline.db.pool import async_pool

                self._pool = async_pool(self.history, "history writer", write=True, configure=configure_connection)
                await self._pool.open(wait=True)
            self._writer = HistoryWriter(self.history, self._pool)
        return self._writer

    async def _write(self, batch: Batch) -> WriteReport:
        backoff = 0.1
        while True:
            try:
                writer = await self._ensure_writer()
                with metrics.WRITE_SECONDS.time():
                    return await writer.write(batch, self.clock())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost, timeout, a partition archived under us...
                metrics.WRITE_FAILURES.inc()
                log.warning("history: writing %d rows failed (%s: %s), retrying in %.1fs",
                            len(batch), type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", backoff)
                if self._writer is not None:
                    self._writer.forget_partitions()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _maintain(self) -> None:
        self._next_maintenance = time.monotonic() + self.history.maintenance_interval_s
        try:
            report = await asyncio.to_thread(run_maintenance, self.history, self.clock())
        except Exception as exc:  # maintenance is retried at the next interval; writes go on
            log.warning("history: partition maintenance failed (%s: %s); next try in %.0fs",
                        type(exc).__name__, exc, self.history.maintenance_interval_s)
            return
        for line in report.lines():
            log.info("history maintenance: %s", line)
        if report.archived and self._writer is not None:
            self._writer.forget_partitions()


def run_maintenance(history: HistorySettings, now: datetime):
    from pipeline.db.pool import connect
    from pipeline.history.partitions import maintain

    with connect(history, "history maintenance", write=True, autocommit=True) as conn:
        return maintain(conn, history, now)


def create(settings: Settings, topology: Any = None) -> HistoryProcessor:
    """The composition root's factory: checks the schema first (a worker refuses an unmigrated database,
    or one it cannot reach: SchemaNotCurrent or DatabaseUnavailable, naming the fix)."""
    from pipeline.db.migrate import require_current_schema

    if not settings.history.enabled:
        raise SystemExit("stage 'history': history.enabled is off (PIPELINE_HISTORY__ENABLED=true runs it, "
                         "with PostgreSQL at history.dsn migrated by `pipeline db migrate`)")

    require_current_schema(settings.history)
    return HistoryProcessor(settings.history)
