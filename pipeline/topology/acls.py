"""The Kafka ACLs each component needs, derived from the topology (one source of truth: a stage's
ports say what it reads and writes).

- A chain worker reads its inputs and its views (``reads:``), writes its outputs, dead letters and table
  changelogs (which it also reads back at recovery), and is a member of its consumer group. Faust
  declares no topic of its own here (``topic_allow_declare=False``, ``topic_disable_leader=True``), so
  no CREATE is needed; ``pipeline topology apply`` (run with an admin principal) creates the topics.
- The bridge writes the raw alerts and silences, and reads silences and the public enriched feed (its
  API view, by assignment: no consumer group) and the notifications (silence preview).
- The sources runner writes the raw alerts.
- The idempotent producers need no cluster ACL on Kafka ≥ 3.0 (IDEMPOTENT_WRITE is implied by WRITE).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.topology.model import Topology


@dataclass(frozen=True, order=True)
class AclNeed:
    component: str
    resource: str  # "topic" | "group"
    name: str      # full name, prefix included
    operation: str  # "Read" | "Write"

    def kafka_acls(self, principal: str, bootstrap: str) -> str:
        """The ``kafka-acls.sh`` command that grants it."""
        return (f"kafka-acls.sh --bootstrap-server {bootstrap} --add --allow-principal {principal} "
                f"--operation {self.operation} --{self.resource} '{self.name}'")


def required_acls(topology: Topology, prefix: str = "") -> list[AclNeed]:
    from pipeline.api.view import ALERTS_TOPIC, SILENCES_TOPIC
    from pipeline.notification_history import notification_topic

    needs: set[AclNeed] = set()
    chains = topology.chains()
    for chain in chains:
        who = f"worker {chain.name}"
        needs.add(AclNeed(who, "group", prefix + chain.consumer_group, "Read"))
        for stage in chain.stages:
            for topic in (*stage.inputs.values(), *stage.reads.values()):
                needs.add(AclNeed(who, "topic", prefix + topic, "Read"))
            written = [*stage.outputs.values(), *(t.changelog for t in stage.tables.values())]
            if stage.dead_letters:
                written.append(stage.dead_letters)
            for topic in written:
                needs.add(AclNeed(who, "topic", prefix + topic, "Write"))
            for table in stage.tables.values():  # recovery reads the changelog back
                needs.add(AclNeed(who, "topic", prefix + table.changelog, "Read"))
    raw = next(iter(chains[0].stages[0].inputs.values()))
    for topic, operation in ((raw, "Write"), (SILENCES_TOPIC, "Write"), (SILENCES_TOPIC, "Read"),
                             (ALERTS_TOPIC, "Read"), (notification_topic(topology), "Read")):
        needs.add(AclNeed("bridge", "topic", prefix + topic, operation))
    needs.add(AclNeed("sources", "topic", prefix + raw, "Write"))
    return sorted(needs)
