"""`pipeline send` (direct producers) and `pipeline tail` against the real broker."""

import orjson
from click.testing import CliRunner

from pipeline.cli import main as cli


def env_of(settings):
    return {"PIPELINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "PIPELINE_TOPICS__PREFIX": settings.topics.prefix}


def test_send_yaml_and_tail(settings, applied_topology, tmp_path):
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(
        "- labels: {alertname: DiskFull, instance: db1, severity: critical}\n"
        "  annotations: {summary: disk 95%}\n"
        "- labels: {alertname: DiskFull, instance: db2}\n"
        "  endsAt: 2020-01-01T00:00:00Z\n"
        "- labels: {'0bad': x}\n"
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["send", str(alerts), "--source", "batch-job"], env=env_of(settings))
    assert result.exit_code == 1, result.output  # one alert was invalid
    assert f"sent 2 alerts to {settings.topic('alerts.raw')}" in result.output
    assert 'invalid alert #2: invalid label set: invalid name "0bad"' in result.output

    result = runner.invoke(cli, ["send", "-"], input='{"labels": {"alertname": "FromStdin"}}', env=env_of(settings))
    assert result.exit_code == 0, result.output

    tailed = runner.invoke(cli, ["tail", "alerts.raw", "--match", "alertname=DiskFull"], env=env_of(settings))
    assert tailed.exit_code == 0, tailed.output
    lines = [orjson.loads(line) for line in tailed.output.splitlines()]
    assert {line["value"]["labels"]["instance"] for line in lines} == {"db1", "db2"}
    assert all(line["value"]["source"] == "batch-job" for line in lines)
    assert all(line["key"] == line["value"]["fingerprint"] for line in lines)


def test_send_rejects_what_is_not_alerts(settings, applied_topology):
    result = CliRunner().invoke(cli, ["send", "-"], input="just words", env=env_of(settings))
    assert result.exit_code == 1 and "expected an alert object or a list" in result.output
    result = CliRunner().invoke(cli, ["tail", "alerts.nope"], env=env_of(settings))
    assert result.exit_code == 1 and "not a topic" in result.output
