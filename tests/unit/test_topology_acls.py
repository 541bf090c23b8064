"""pipeline.topology.acls: what each component must be allowed, from the topology's ports."""

from pipeline.paths import TOPOLOGIES_DIR
from pipeline.topology import load_topology
from pipeline.topology.acls import AclNeed, required_acls

SPLIT_TOPOLOGY = TOPOLOGIES_DIR / "split.yaml"


def _by_component(needs):
    out: dict[str, set[tuple[str, str, str]]] = {}
    for need in needs:
        out.setdefault(need.component, set()).add((need.resource, need.name, need.operation))
    return out


def test_each_chain_reads_its_inputs_and_views_and_writes_its_outputs_changelogs_and_dead_letters():
    needs = _by_component(required_acls(load_topology(TOPOLOGIES_DIR / "default.yaml"), "p."))
    group = needs["worker group"]
    assert ("group", "p.pipeline-group", "Read") in group
    assert {("topic", "p.alerts.routed", "Read"), ("topic", "p.silences", "Read"), ("topic", "p.alerts.state", "Read"),
            ("topic", "p.notifications", "Write"), ("topic", "p.alerts.dlq", "Write")} <= group
    changelogs = {name for resource, name, op in group if "changelog" in name}
    assert changelogs and all({("topic", n, "Read"), ("topic", n, "Write")} <= group for n in changelogs)
    assert ("topic", "p.notifications", "Read") not in group  # the sink's, not the group's
    sink = needs["worker sink"]
    assert ("topic", "p.notifications.dlq", "Write") in sink and ("topic", "p.notifications", "Read") in sink
    assert needs["bridge"] == {("topic", "p.alerts.raw", "Write"), ("topic", "p.silences", "Write"),
                               ("topic", "p.silences", "Read"), ("topic", "p.alerts.enriched", "Read"),
                               ("topic", "p.notifications", "Read")}
    assert needs["sources"] == {("topic", "p.alerts.raw", "Write")}


def test_a_split_topology_has_a_consumer_group_per_stage():
    needs = _by_component(required_acls(load_topology(SPLIT_TOPOLOGY)))
    assert {"worker normalize", "worker dedup", "worker route", "worker group", "worker sink"} <= set(needs)
    assert ("topic", "alerts.deduped", "Read") in needs["worker classify"]


def test_the_command_line_is_kafka_acls():
    need = AclNeed("bridge", "topic", "alerts.raw", "Write")
    assert need.kafka_acls("User:bridge", "k:9092") == (
        "kafka-acls.sh --bootstrap-server k:9092 --add --allow-principal User:bridge --operation Write "
        "--topic 'alerts.raw'")
