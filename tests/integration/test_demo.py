"""`pipeline demo` (what `make demo` runs after `pipeline dev up`) carries its alert to a sink."""

from pipeline.demo import run_demo
from pipeline.devenv.process import free_port
from pipeline.settings import BridgeSettings, DevSettings, WorkerSettings
from tests.integration.helpers import settings_with_topology


def test_demo_alert_is_delivered_to_the_demo_webhook(kafka_bootstrap, tmp_path):
    base = settings_with_topology(kafka_bootstrap, "demo")
    hook_port = free_port()
    config = tmp_path / "alertmanager.yml"
    example = (base.alertmanager_config).read_text()
    config.write_text(example.replace("http://127.0.0.1:9099/hook", f"http://127.0.0.1:{hook_port}/hook"))
    settings = base.model_copy(update={
        "bridge": BridgeSettings(port=free_port()),
        "worker": WorkerSettings(data_dir=tmp_path / "workers"),
        "dev": DevSettings(state_dir=tmp_path / "dev"),
        "alertmanager_config": config,
    })
    lines: list[str] = []
    payload = run_demo(settings, echo=lines.append, timeout_s=60)
    assert payload["version"] == "4" and payload["receiver"] == "demo-webhook"
    [alert] = payload["alerts"]
    assert alert["labels"]["alertname"] == "DemoAlert" and alert["status"] == "firing"
    assert payload["groupLabels"] == {"alertname": "DemoAlert"}
    assert any("→ 200" in line for line in lines), lines
    assert any(line.startswith(f"web UI: http://127.0.0.1:{settings.bridge.port}/ui/") for line in lines), lines
    assert any(line.startswith("\nsink → POST") for line in lines), lines
    # Without PostgreSQL configured (history.enabled off) the history chain is not started, and the
    # demo says how to turn it on; the delivery outcome it would store is printed all the same.
    assert any("chain workers: normalize, group, sink;" in line for line in lines), lines
    [outcome] = [line for line in lines if line.startswith(f"\nsink → {settings.topic('notifications.outcomes')}")]
    assert "PIPELINE_HISTORY__ENABLED=true" in outcome
    assert '"outcome": "delivered"' in lines[lines.index(outcome) + 1]
