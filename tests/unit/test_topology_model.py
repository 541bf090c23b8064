import copy
from pathlib import Path

import pytest
import yaml

from pipeline.paths import TOPOLOGIES_DIR
from pipeline.topology import TopologyError, load_topology
from pipeline.topology.model import parse_topology

DEFAULT = TOPOLOGIES_DIR / "default.yaml"


@pytest.fixture
def document():
    return yaml.safe_load(DEFAULT.read_text())


def test_default_topology_is_valid_and_complete():
    topology = load_topology(DEFAULT)
    for name in ["alerts.raw", "alerts.normalized", "alerts.enriched", "notifications",
                 "notifications.dlq", "alerts.dlq", "silences", "alerts.state"]:
        assert name in topology.topics
    assert [t.delay_s for t in topology.retry_tiers()] == [5, 30, 300, 1800]
    assert {s.consumer_group for s in topology.stages.values()} == {f"pipeline-{s}" for s in topology.stages}


def test_state_topics_are_compacted_and_kept():
    topology = load_topology(DEFAULT)
    for name in ("silences", "alerts.state"):
        assert topology.topics[name].kafka_config()["cleanup.policy"] == "compact"
        assert topology.topics[name].retention_ms == -1
    assert topology.topics["alerts.raw"].kafka_config() == {
        "cleanup.policy": "delete", "retention.ms": str(7 * 86400 * 1000)}


def test_every_stage_writes_or_reads_only_declared_topics(document):
    document["stages"]["normalize"]["outputs"].append("alerts.typo")
    with pytest.raises(TopologyError, match="undeclared topic 'alerts.typo'"):
        parse_topology(document, "t.yaml")


def test_stateful_stage_inputs_must_be_copartitioned(document):
    document["stages"]["sink"]["tables"] = ["ledger"]  # a table makes the multi-input sink stateful
    document["topics"]["notifications.retry.5m"]["partitions"] = 3
    with pytest.raises(TopologyError, match="not co-partitioned"):
        parse_topology(document, "t.yaml")


def test_stateless_stage_may_mix_partition_counts(document):
    document["stages"]["normalize"]["inputs"] = ["alerts.raw", "silences"]
    parse_topology(document, "t.yaml")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["topics"].__setitem__("Alerts.RAW", {}), "does not follow"),
    (lambda d: d["topics"]["alerts.raw"].__setitem__("retention", "7 days"), "not a valid duration"),
    (lambda d: d["topics"]["alerts.raw"].__setitem__("partitons", 3), "unknown keys"),
    (lambda d: d["topics"]["alerts.raw"].__setitem__("cleanup_policy", "compacted"), "cleanup_policy"),
    (lambda d: d["topics"]["alerts.raw"].__setitem__("config", {"cleanup.policy": "compact"}), "through cleanup_policy"),
    (lambda d: d["topics"]["alerts.raw"].__setitem__("partitions", 0), "partitions"),
    (lambda d: d.__setitem__("topic", {}), "unknown top-level keys"),
])
def test_malformed_topologies_name_the_problem(document, mutate, message):
    broken = copy.deepcopy(document)
    mutate(broken)
    with pytest.raises(TopologyError, match=message) as info:
        parse_topology(broken, "broken.yaml")
    assert "broken.yaml" in str(info.value)


def test_missing_and_unparseable_files(tmp_path: Path):
    with pytest.raises(TopologyError, match="no such topology file"):
        load_topology(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [unclosed")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(bad)
