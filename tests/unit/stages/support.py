"""Processors under the in-memory runtime (pipeline.runtime.memory), on the default topology."""

from __future__ import annotations

from pipeline.dead_letters import header_dict
from pipeline.paths import TOPOLOGIES_DIR
from pipeline.runtime.memory import MemoryRuntime
from pipeline.stages.processor import Processor
from pipeline.topology import load_topology

DEFAULT = load_topology(TOPOLOGIES_DIR / "default.yaml")


def runtime(*processors: Processor, topology=DEFAULT) -> MemoryRuntime:
    return MemoryRuntime(topology, {p.STAGE: p for p in processors})


def dead_letters(rt: MemoryRuntime, topic: str = "alerts.dlq") -> list[dict[str, str]]:
    """The dead letters written, as their headers (reason, class, stage)."""
    return [header_dict(list(w.headers)) for w in rt.records(topic)]
