from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.paths import REPO_ROOT
from pipeline.settings import Settings, iter_knobs, knobs_markdown


def test_defaults_point_at_the_local_dev_services():
    settings = Settings()
    assert settings.kafka.bootstrap_servers == f"127.0.0.1:{settings.dev.kafka_port}"
    assert settings.redis.url == f"redis://127.0.0.1:{settings.dev.redis_port}/0"
    assert settings.topics.topology_file.is_file()
    assert settings.alertmanager_config.is_file()


def test_env_vars_use_the_prefix_and_double_underscore(monkeypatch):
    monkeypatch.setenv("PIPELINE_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("PIPELINE_TOPICS__PREFIX", "prod.")
    monkeypatch.setenv("PIPELINE_BRIDGE__PORT", "8080")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.topic("alerts.raw") == "prod.alerts.raw"
    assert settings.bridge.port == 8080


def test_config_file_is_read_and_env_wins_over_it(tmp_path, monkeypatch):
    config = tmp_path / "pipeline.yaml"
    config.write_text("kafka:\n  bootstrap_servers: from-file:9092\n  client_id: from-file\nlog_level: DEBUG\n")
    monkeypatch.setenv("PIPELINE_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIPELINE_KAFKA__CLIENT_ID", "from-env")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "from-file:9092"
    assert settings.kafka.client_id == "from-env"
    assert settings.log_level == "DEBUG"


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PIPELINE_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError, match="PIPELINE_CONFIG_FILE"):
        Settings()


def test_unknown_and_invalid_knobs_are_rejected(tmp_path, monkeypatch):
    config = tmp_path / "pipeline.yaml"
    config.write_text("kafka:\n  bootstrap_server: typo:9092\n")
    monkeypatch.setenv("PIPELINE_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="bootstrap_server"):
        Settings()
    monkeypatch.delenv("PIPELINE_CONFIG_FILE")
    monkeypatch.setenv("PIPELINE_BRIDGE__PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        Settings()


def test_secrets_are_not_printed(monkeypatch):
    monkeypatch.setenv("PIPELINE_KAFKA__SASL_PASSWORD", "hunter2")
    settings = Settings()
    assert "hunter2" not in repr(settings)
    assert settings.kafka.client_config()["sasl.password"] == "hunter2"


@pytest.mark.parametrize("how", ["misspelt env", "misspelt file", "mistyped file", "bad yaml"])
def test_a_misspelt_or_mistyped_secret_is_not_printed_in_the_error(how, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pipeline.cli import main as cli

    secret = "hunter2-S3CRET"
    config = tmp_path / "pipeline.yaml"
    if how == "misspelt env":
        monkeypatch.setenv("PIPELINE_KAFKA__SASL_PASWORD", secret)
    else:
        config.write_text({"misspelt file": f"kafka:\n  sasl_pasword: {secret}\n",
                           "mistyped file": f"kafka:\n  sasl_password: [{secret}]\n",
                           "bad yaml": f'kafka:\n  sasl_password: "{secret}\n  x: [\n'}[how])
        monkeypatch.setenv("PIPELINE_CONFIG_FILE", str(config))
    with pytest.raises(Exception) as caught:
        Settings()
    assert secret not in str(caught.value)
    result = CliRunner().invoke(cli, ["topology", "describe"])  # what an operator sees
    assert result.exit_code != 0 and "invalid settings" in result.output and secret not in result.output


def test_every_knob_is_documented_and_docs_are_current():
    for dotted, env, _default, description in iter_knobs():
        assert description, f"{dotted} ({env}) has no description"
    docs = (REPO_ROOT / "docs" / "configuration.md").read_text()
    assert knobs_markdown() in docs, "docs/configuration.md is stale: run `pipeline settings` and paste its table"


def test_knob_defaults_do_not_leak_this_machines_paths():
    table = knobs_markdown()
    assert str(REPO_ROOT) not in table
    assert str(Path.home()) + "/" not in table
