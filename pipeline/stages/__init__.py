"""The stages: one processor class per stage (pipeline.stages.processor), and the composition root.

``PROCESSORS`` maps every stage name of the topology to its processor class; ``build`` makes the
processors of a chain from the settings. The runtime (pipeline.runtime) runs them; nothing here
touches Kafka.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from pipeline.stages.processor import Processor

# stage name -> "module:class" (imported when a worker runs the stage: a worker loads only its own)
PROCESSORS: dict[str, str] = {
    "normalize": "pipeline.stages.normalize:NormalizeProcessor",
    "dedup": "pipeline.stages.dedup:DedupProcessor",
    "classify": "pipeline.stages.classify:ClassifyProcessor",
    "flapping": "pipeline.stages.flapping:FlappingProcessor",
    "mute": "pipeline.stages.mute:MuteProcessor",
    "route": "pipeline.stages.route:RouteProcessor",
    "group": "pipeline.stages.group:GroupProcessor",
    "sink": "pipeline.stages.sink:SinkProcessor",
    "history": "pipeline.stages.history:HistoryProcessor",
}

# Stages whose processor waits for the event-time watermark (WANTS_EVENT_TIME): the chains before
# them report their progress (pipeline.runtime.event_time).
EVENT_TIME_STAGES: frozenset[str] = frozenset({"group"})


def processor_class(stage: str) -> type[Processor]:
    try:
        module_name, _, class_name = PROCESSORS[stage].partition(":")
    except KeyError:
        raise KeyError(f"no processor for stage {stage!r}; known: {', '.join(PROCESSORS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def build(stages: Iterable[str], settings, topology) -> dict[str, Processor]:
    """The processors of ``stages``, configured from the settings (a broken configuration stops here,
    before the worker joins its consumer group)."""
    return {name: processor_class(name).from_settings(settings, topology) for name in stages}
