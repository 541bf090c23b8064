"""`pipeline demo` (what `make demo` runs after `pipeline dev up`) carries its alert through."""

from pipeline.demo import BUILT_STAGES, run_demo
from pipeline.devenv.process import free_port
from pipeline.settings import BridgeSettings, DevSettings, WorkerSettings
from tests.integration.helpers import settings_with_topology


def test_demo_alert_reaches_the_last_built_stage(kafka_bootstrap, tmp_path):
    base = settings_with_topology(kafka_bootstrap, "demo")
    settings = base.model_copy(update={
        "bridge": BridgeSettings(port=free_port()),
        "worker": WorkerSettings(data_dir=tmp_path / "workers"),
        "dev": DevSettings(state_dir=tmp_path / "dev"),
    })
    lines: list[str] = []
    record = run_demo(settings, echo=lines.append, timeout_s=60)
    assert record["topic"] == list(BUILT_STAGES.values())[-1]
    alert = record["value"]["alert"]
    assert alert["labels"]["alertname"] == "DemoAlert" and alert["status"] == "firing"
    assert record["key"] == alert["fingerprint"]
    assert any("→ 200" in line for line in lines), lines
