"""The declared topics and stages (topologies/*.yaml) and making a cluster match them."""

from __future__ import annotations

from typing import Any

from pipeline.topology.model import FEATURES, Stage, TopicSpec, Topology, TopologyError, load_topology

__all__ = ["FEATURES", "Stage", "TopicSpec", "Topology", "TopologyError", "enabled_features", "load_topology"]


def enabled_features(settings: Any) -> frozenset[str]:
    """The optional parts of the deployment (a stage's ``requires``) the settings enable."""
    enabled = {"history": settings.history.enabled}
    assert set(enabled) == set(FEATURES), "every feature of the topology model has its setting here"
    return frozenset(name for name, on in enabled.items() if on)
