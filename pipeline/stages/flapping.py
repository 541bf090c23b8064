"""The flapping stage: marks flapping alerts so routes and inhibit rules can act on it.

Where it sits: in the alert chain after classify and before mute and route (chained with them: it
passes records in memory and adds no hop), so a route can match ``flapping="true"`` (e.g. send
flapping alerts to a quieter receiver) and an inhibit rule's target matchers can too. Inhibition
*sources* come from ``alerts.state`` (dedup's view, before classification), which never carries the
mark — as with the labels classify adds.

No database round trip per alert: the stage reads a :class:`~pipeline.history.flapping.FlappingSet`
in memory, refreshed from PostgreSQL by a background thread every ``history.flapping_refresh_s``
(pipeline/history/flapping.py says how that stays cheap). PostgreSQL down only stops the refresh:
alerts keep flowing, marked from the last answer while it is valid.

What it does to a record (an EnrichedAlert): when the alert flaps — or flapped at any point of the
current firing occurrence — it sets the label ``history.flapping_label`` to ``"true"`` and/or the
annotation ``history.flapping_annotation``; otherwise the record passes unchanged (a sender's own
value of that label is left as it is). The mark is sticky for an occurrence: once a firing alert is
marked, every later record of it up to and including its resolve is marked too, so the resolve takes
the route its firing records took (a mark that came and went mid-occurrence would move the alert to
another group and send its resolve to another receiver). The table ``flapping_marked`` holds the
marked, still-firing fingerprints; a resolve deletes its entry, so it holds only what fires.

Like classify's labels, the mark does not change the fingerprint (the dedup identity upstream).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from pipeline.durations import format_duration
from pipeline.history import metrics
from pipeline.history.flapping import FlappingRefresher, FlappingSet
from pipeline.models import replace
from pipeline.settings import HistorySettings, Settings
from pipeline.stages.processor import Emit, Processor, Record, Rejected, State, Table

MARKED = "flapping_marked"
OUTPUT = "alerts"
_MARK = b"1"


class FlappingProcessor(Processor):
    STAGE: ClassVar[str] = "flapping"
    OUTPUTS: ClassVar[tuple[str, ...]] = (OUTPUT,)
    TABLES: ClassVar[tuple[Table, ...]] = (Table(MARKED),)

    def __init__(self, history: HistorySettings, flapping: FlappingSet, refresher: FlappingRefresher | None = None):
        self.history = history
        self.flapping = flapping
        self.refresher = refresher
        self.label = history.flapping_label
        self.annotation = history.flapping_annotation
        self.window_text = format_duration(flapping.window)

    def process(self, record: Record, state: State, now: datetime) -> Sequence[Emit] | Rejected:
        value = record.value
        alert = getattr(value, "alert", None)
        if alert is None or not hasattr(value, "routes"):
            return Rejected("UnexpectedRecord", f"the flapping stage marks EnrichedAlert records, not {type(value).__name__}")
        key = alert.fingerprint.encode()
        marked = state[MARKED]
        current = self.flapping.lookup(alert.fingerprint, now)
        sticky = marked.get(key) is not None
        if alert.status == "firing":
            if current is not None and not sticky:
                marked.set(key, _MARK)
        elif sticky:
            marked.delete(key)
        if current is None and not sticky:
            return (Emit(OUTPUT, record.key, value, record.headers),)
        metrics.FLAPPING_MARKED.inc()
        return (Emit(OUTPUT, record.key, self._marked(value, alert, current), record.headers),)

    def _marked(self, value: Any, alert: Any, current) -> Any:
        changes: dict[str, Any] = {}
        if self.label:
            changes["labels"] = {**alert.labels, self.label: "true"}
        if self.annotation:
            text = (f"changed state {current.changes} times within {self.window_text}" if current is not None
                    else "flapped earlier in this occurrence")
            changes["annotations"] = {**alert.annotations, self.annotation: text}
        if not changes:
            return value
        return replace(value, alert=replace(alert, **changes))

    @classmethod
    def from_settings(cls, settings: Settings, topology: Any = None) -> FlappingProcessor:
        return create(settings, topology)

    async def aclose(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()


def create(settings: Settings, topology: Any = None) -> FlappingProcessor:
    """The composition root's factory: checks the schema, starts the refresh thread. With
    ``history.enabled`` off the stage needs no database: its set stays empty and is never refreshed,
    so it passes every record on unchanged (but for the sticky marks of occurrences marked while it
    was on, whose resolves still take their firing records' route)."""
    if not settings.history.enabled:
        return FlappingProcessor(settings.history, FlappingSet(settings.history))
    from pipeline.db.migrate import require_current_schema

    require_current_schema(settings.history)
    flapping = FlappingSet(settings.history)
    refresher = FlappingRefresher(settings.history, flapping).start()
    return FlappingProcessor(settings.history, flapping, refresher)
