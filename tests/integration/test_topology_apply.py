"""`pipeline topology apply` against the real broker."""

from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType
from click.testing import CliRunner

from pipeline.cli import main as cli
from pipeline.runtime.admin import admin_client
from pipeline.runtime.topics import apply_topology, cluster_state
from pipeline.topology import load_topology


def test_apply_twice_creates_once_and_then_reports_no_drift(settings):
    admin = admin_client(settings.kafka)
    topology = load_topology(settings.topics.topology_file)
    prefix = settings.topics.prefix

    first = apply_topology(admin, topology, prefix)
    assert sorted(first.created) == sorted(prefix + n for n in topology.topics)
    assert first.drift == []

    second = apply_topology(admin, topology, prefix)
    assert second.created == []
    assert second.drift == []
    assert sorted(second.unchanged) == sorted(first.created)

    state = cluster_state(admin, [prefix + "silences", prefix + "alerts.raw"], timeout=10)
    assert state[prefix + "silences"].partitions == 1
    assert state[prefix + "silences"].config["cleanup.policy"] == "compact"
    assert state[prefix + "alerts.raw"].partitions == topology.topics["alerts.raw"].partitions


def test_fewer_partitions_than_declared_is_drift_and_data_is_kept(settings):
    admin = admin_client(settings.kafka)
    topology = load_topology(settings.topics.topology_file)
    name = settings.topic("alerts.raw")
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(10)

    report = apply_topology(admin, topology, settings.topics.prefix)
    partition_drift = [d for d in report.unresolved if d.what == "partitions"]
    assert [(d.topic, d.declared, d.actual) for d in partition_drift] == [(name, "6", "2")]
    assert name not in report.created
    assert cluster_state(admin, [name], 10)[name].partitions == 2  # reported, not changed

    fixed = apply_topology(admin, topology, settings.topics.prefix, increase_partitions=True)
    assert all(d.fixed for d in fixed.drift if d.what == "partitions")
    assert cluster_state(admin, [name], 10)[name].partitions == 6
    assert apply_topology(admin, topology, settings.topics.prefix).unresolved == []


def test_config_drift_is_reported_then_fixed_on_request(settings):
    admin = admin_client(settings.kafka)
    topology = load_topology(settings.topics.topology_file)
    name = settings.topic("silences")
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                  config={"cleanup.policy": "delete"})])[name].result(10)

    report = apply_topology(admin, topology, settings.topics.prefix)
    assert {(d.what, d.declared, d.actual) for d in report.unresolved} == {
        ("cleanup.policy", "compact", "delete"), ("retention.ms", "-1", "604800000")}

    apply_topology(admin, topology, settings.topics.prefix, fix_config=True)
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
    entries = next(iter(configs.values())).result(10)
    assert entries["cleanup.policy"].value == "compact"
    assert apply_topology(admin, topology, settings.topics.prefix).unresolved == []


def test_cli_apply_and_describe(settings, monkeypatch):
    monkeypatch.setenv("PIPELINE_KAFKA__BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("PIPELINE_TOPICS__PREFIX", settings.topics.prefix)
    runner = CliRunner()

    declared = len(load_topology(settings.topics.topology_file).topics)  # the tables' changelogs included
    first = runner.invoke(cli, ["topology", "apply"])
    assert first.exit_code == 0, first.output
    assert f"{declared} created, 0 unchanged, 0 drifted" in first.output
    second = runner.invoke(cli, ["topology", "apply"])
    assert second.exit_code == 0, second.output
    assert f"0 created, {declared} unchanged, 0 drifted" in second.output

    described = runner.invoke(cli, ["topology", "describe"])
    assert described.exit_code == 0, described.output
    assert f"{settings.topic('alerts.raw')}" in described.output
    assert "missing" not in described.output


def test_cli_apply_exits_3_while_drift_remains(settings, monkeypatch):
    admin = admin_client(settings.kafka)
    name = settings.topic("alerts.muted")  # a topic without declared configs: only partitions drift
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    monkeypatch.setenv("PIPELINE_KAFKA__BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("PIPELINE_TOPICS__PREFIX", settings.topics.prefix)

    result = CliRunner().invoke(cli, ["topology", "apply"])
    assert result.exit_code == 3, result.output
    assert f"DRIFT: {name} partitions: declared 6, cluster has 1" in result.output
    declared = len(load_topology(settings.topics.topology_file).topics)
    assert f"{declared - 1} created, 0 unchanged, 1 drifted" in result.output


def test_apply_reports_an_unreachable_broker_clearly(monkeypatch):
    monkeypatch.setenv("PIPELINE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("PIPELINE_KAFKA__REQUEST_TIMEOUT_S", "1")
    result = CliRunner().invoke(cli, ["topology", "apply"])
    assert result.exit_code == 1
    assert "Kafka at 127.0.0.1:1" in result.output
