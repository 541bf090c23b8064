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
    document["stages"]["normalize"]["outputs"]["typo"] = "alerts.typo"
    with pytest.raises(TopologyError, match="port 'typo' names undeclared topic 'alerts.typo'"):
        parse_topology(document, "t.yaml")


def test_stateful_stage_inputs_must_be_copartitioned(document):
    document["stages"]["sink"]["tables"] = {"ledger": {}}  # a table makes the multi-input sink stateful
    document["topics"]["notifications.retry.5m"]["partitions"] = 3
    with pytest.raises(TopologyError, match="not co-partitioned"):
        parse_topology(document, "t.yaml")


def test_stateless_stage_may_mix_partition_counts(document):
    document["stages"]["normalize"]["inputs"] = {"raw": "alerts.raw", "extra": "silences"}
    parse_topology(document, "t.yaml")


def test_ports_map_to_topics_not_lists(document):
    document["stages"]["route"]["outputs"] = ["alerts.routed"]
    with pytest.raises(TopologyError, match="maps port names to topics"):
        parse_topology(document, "t.yaml")


def test_the_default_chaining_and_why_each_chain_starts_where_it_does():
    chains = load_topology(DEFAULT).chains()
    assert [[s.name for s in c.stages] for c in chains] == [
        ["normalize", "dedup", "classify", "flapping", "mute", "route"], ["group"], ["sink"], ["history"]]
    assert [c.consumer_group for c in chains] == ["pipeline-normalize", "pipeline-group", "pipeline-sink",
                                                  "pipeline-history"]
    assert "repartition" in chains[1].broken_because
    assert chains[3].broken_because == "reads alerts.enriched, notifications, which sink does not write"
    assert chains[0].internal() == {"alerts.normalized", "alerts.deduped", "alerts.classified", "alerts.marked",
                                    "alerts.muted"}
    # The dedup table is alerts.state; the group's tables have changelogs of their own, per stage.
    stages = load_topology(DEFAULT).stages
    assert stages["dedup"].tables["alert_state"].changelog == "alerts.state"
    assert stages["group"].tables["nflog"].changelog == "pipeline-group-nflog-changelog"


def test_a_stage_can_be_split_off_and_a_file_can_extend_another(tmp_path):
    split = load_topology(TOPOLOGIES_DIR / "split.yaml")
    assert [c.name for c in split.chains()] == ["normalize", "dedup", "classify", "flapping", "mute", "route", "group",
                                                "sink", "history"]
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"extends: {DEFAULT}\nstages:\n  classify: {{chain: new}}\n"
                    "topics:\n  alerts.deduped: {tap: true}\n")
    topology = load_topology(mine)
    assert [[s.name for s in c.stages] for c in topology.chains()][:2] == [["normalize", "dedup"],
                                                                          ["classify", "flapping", "mute", "route"]]
    assert topology.topics["alerts.deduped"].tap and topology.topics["alerts.deduped"].keyed_by == "fingerprint"


def test_a_stage_reading_another_stages_output_cannot_join_the_chain(document):
    document["stages"]["mute"]["inputs"] = {"classified": "alerts.deduped"}  # skips classify's output
    chains = parse_topology(document, "t.yaml").chains()
    assert [s.name for s in chains[1].stages] == ["mute", "route"]
    assert chains[1].broken_because == "reads alerts.deduped, which flapping does not write"


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


def test_the_history_chain_runs_only_where_history_is_enabled():
    topology = load_topology(DEFAULT)
    assert topology.stages["history"].requires == "history"
    assert [c.requires for c in topology.chains()] == [None, None, None, "history"]
    assert [c.name for c in topology.enabled_chains(())] == ["normalize", "group", "sink"]
    assert [c.name for c in topology.enabled_chains({"history"})] == ["normalize", "group", "sink", "history"]
    split = load_topology(TOPOLOGIES_DIR / "split.yaml")
    assert "history" not in [c.name for c in split.enabled_chains(())]


def test_enabled_features_come_from_the_settings():
    from pipeline.settings import HistorySettings, Settings
    from pipeline.topology import enabled_features

    assert enabled_features(Settings(history=HistorySettings())) == frozenset()
    assert enabled_features(Settings(history=HistorySettings(enabled=True))) == {"history"}


def test_only_a_leaf_may_require_a_feature(document):
    # group reading what an optional stage writes would stop without it
    document["stages"]["history"]["outputs"] = {"copy": "alerts.enriched"}
    document["stages"]["group"]["inputs"] = {"routed": "alerts.routed", "extra": "alerts.enriched"}
    with pytest.raises(TopologyError, match="stage 'group' reads alerts.enriched, written by 'history', which "
                                            "requires history"):
        parse_topology(document, "t.yaml")


def test_a_chain_requires_one_thing(document):
    document["stages"]["route"]["requires"] = "history"  # chained after normalize, which requires nothing
    with pytest.raises(TopologyError, match="stage 'route' runs chained after 'normalize' but requires history"):
        parse_topology(document, "t.yaml")
    document["stages"]["route"]["requires"] = "incidents"
    with pytest.raises(TopologyError, match="requires"):
        parse_topology(document, "t.yaml")
