"""The declared topics and stages (topologies/*.yaml) and making a cluster match them."""

from pipeline.topology.model import Stage, TopicSpec, Topology, TopologyError, load_topology

__all__ = ["Stage", "TopicSpec", "Topology", "TopologyError", "load_topology"]
