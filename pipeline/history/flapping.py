"""The flapping set: which alerts flap right now, kept in memory and refreshed from PostgreSQL.

Alerta's rule: an alert flaps when it changed state (fired, resolved) more than
``history.flapping_threshold`` times within ``history.flapping_window_s``. The history stage keeps
the times of each alert's latest state transitions in ``alert_summaries.recent_transitions``; this
set reads, every ``history.flapping_refresh_s``, only the summaries written since the last refresh
(index on ``written_at``) that flap, so a refresh costs what changed, not what is stored. Each entry
knows when it stops flapping if nothing else happens (its (N+1)-th latest transition leaves the
window), so entries expire in memory without another query.

Bounded: at most ``history.flapping_max_alerts`` entries (those flapping longest are kept when full);
a refresh reads at most ``REFRESH_ROWS`` rows and goes on from there at the next one. A failing
refresh keeps the last answer (entries still expire) and is retried; the alert path never waits for
PostgreSQL: ``lookup`` is a dictionary read.

Lag: a transition is counted once the history stage wrote it (its flush) and this set refreshed, so
the mark lands a few seconds after the transition that made an alert flap.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pipeline.history import metrics
from pipeline.settings import HistorySettings

log = logging.getLogger(__name__)

REFRESH_ROWS = 50000
# Summaries are stamped with their transaction's start (now()); one that commits after a refresh
# read past its stamp is caught by re-reading this far back (writes take well under it).
WRITE_OVERLAP = timedelta(seconds=15)

REFRESH_SQL = """
    SELECT fingerprint, recent_transitions, written_at FROM alert_summaries
    WHERE written_at > %(after)s
      AND last_transition_at >= %(since)s
      AND cardinality(recent_transitions) > %(threshold)s
      AND recent_transitions[cardinality(recent_transitions) - %(threshold)s] >= %(since)s
    ORDER BY written_at LIMIT %(rows)s"""


@dataclass(frozen=True, slots=True)
class Flapping:
    until: datetime   # when it stops flapping unless it changes state again
    changes: int      # state transitions within the window at the last refresh


class FlappingSet:
    def __init__(self, history: HistorySettings):
        self.threshold = history.flapping_threshold
        self.window = timedelta(seconds=history.flapping_window_s)
        self.max_alerts = history.flapping_max_alerts
        self._entries: dict[str, Flapping] = {}
        self._watermark: datetime | None = None
        self.refreshed_at: datetime | None = None

    def lookup(self, fingerprint: str, now: datetime) -> Flapping | None:
        entry = self._entries.get(fingerprint)
        return entry if entry is not None and entry.until > now else None

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, rows, now: datetime, read_up_to: datetime | None = None) -> None:
        """Take the answer of one refresh query (fingerprint, recent_transitions, written_at);
        ``read_up_to``: the database time up to which every summary was read (an answer not cut at
        ``REFRESH_ROWS``), so the next refresh starts there even when nothing flapped."""
        entries = {fp: e for fp, e in self._entries.items() if e.until > now}
        since = now - self.window
        for fingerprint, transitions, written_at in rows:
            if len(transitions) > self.threshold:
                start = transitions[-(self.threshold + 1)]
                if start >= since:
                    entries[fingerprint] = Flapping(start + self.window, sum(1 for t in transitions if t >= since))
            if self._watermark is None or written_at > self._watermark:
                self._watermark = written_at
        if len(entries) > self.max_alerts:
            log.warning("flapping set full: %d alerts flap, keeping the %d that flap longest",
                        len(entries), self.max_alerts)
            kept = sorted(entries.items(), key=lambda item: item[1].until, reverse=True)[:self.max_alerts]
            entries = dict(kept)
        if read_up_to is not None and (self._watermark is None or read_up_to > self._watermark):
            self._watermark = read_up_to
        self._entries = entries  # swapped whole: readers on other threads see one or the other
        self.refreshed_at = now
        metrics.FLAPPING_ALERTS.set(len(entries))

    def refresh(self, conn, now: datetime) -> int:
        """One refresh on a synchronous connection; returns the rows read."""
        after = (self._watermark - WRITE_OVERLAP) if self._watermark is not None else now - self.window
        database_now = conn.execute("SELECT now()").fetchone()[0]  # the transaction's start, as written_at
        rows = conn.execute(REFRESH_SQL, {"after": after, "since": now - self.window, "threshold": self.threshold,
                                          "rows": REFRESH_ROWS}).fetchall()
        conn.commit()
        self.apply(rows, now, read_up_to=database_now if len(rows) < REFRESH_ROWS else None)
        return len(rows)


class FlappingRefresher:
    """Refreshes a FlappingSet every ``history.flapping_refresh_s`` on a thread with its own connection."""

    def __init__(self, history: HistorySettings, flapping: FlappingSet, clock=None):
        self.history = history
        self.flapping = flapping
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flapping-refresh", daemon=True)
        self.failures = 0

    def start(self) -> FlappingRefresher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        from pipeline.db.pool import connect

        conn = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(self.history, "flapping refresh")
                self.flapping.refresh(conn, self.clock())
                self.failures = 0
            except Exception as exc:  # kept: the last answer stands, entries still expire
                self.failures += 1
                metrics.FLAPPING_REFRESH_FAILURES.inc()
                log.warning("flapping refresh failed (%s: %s); %d alerts kept", type(exc).__name__,
                            str(exc).splitlines()[0] if str(exc) else "", len(self.flapping))
                if conn is not None:
                    conn.close()
                    conn = None
            self._stop.wait(self.history.flapping_refresh_s)
        if conn is not None:
            conn.close()
