"""``pipeline run`` (pipeline.supervisor) on the real broker: the whole topology from one command with
the Alertmanager configuration as its argument; a worker killed with SIGKILL is restarted and the
pipeline delivers again; SIGTERM stops every component and exits 0; a bad configuration starts nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from pipeline.devenv.process import free_port
from pipeline.settings import settings_env
from pipeline.topology import enabled_features, load_topology
from tests.integration.bridge_harness import OPEN_SOURCES, write_sources
from tests.integration.helpers import settings_with_topology
from tests.integration.pipeline_harness import ONE_GROUP_PER_ALERT, WebhookCollector


class Output:
    """The supervisor's stdout, collected by a thread."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def close(self) -> None:
        self._thread.join(timeout=10)  # every line read

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, process: subprocess.Popen, timeout: float = 90.0, after: int = 0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                found = re.search(pattern, line)
                if found:
                    return found
            assert process.poll() is None, f"pipeline run exited ({process.returncode}):\n{self.text()[-4000:]}"
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s:\n{self.text()[-4000:]}")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _post(url: str, name: str) -> None:
    response = httpx.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": name}}], timeout=10)
    assert response.status_code == 200, response.text


def _wait_delivered(collector: WebhookCollector, name: str, process, output: Output, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(a["labels"]["alertname"] == name for d in collector.at("/hook") for a in d.body["alerts"]):
        assert time.monotonic() < deadline, f"{name} was not delivered:\n{output.text()[-4000:]}"
        assert process.poll() is None, f"pipeline run exited:\n{output.text()[-4000:]}"
        time.sleep(0.1)


def test_run_restarts_a_killed_worker_and_stops_cleanly(kafka_bootstrap, tmp_path):
    collector = WebhookCollector().start()
    settings = settings_with_topology(kafka_bootstrap, "run-")
    port = free_port()
    settings = settings.model_copy(update={
        "bridge": settings.bridge.model_copy(update={"sources_dir": write_sources(tmp_path / "sources", OPEN_SOURCES)}),
        "worker": settings.worker.model_copy(update={"data_dir": tmp_path / "state"})})
    config = tmp_path / "alertmanager.yml"
    config.write_text(ONE_GROUP_PER_ALERT.replace("URL", collector.url))
    env = {**os.environ, **settings_env(settings)}
    env.pop("PIPELINE_WORKER__STORE")  # run's own default: RocksDB tables in worker.data_dir
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", "--config.file", str(config),
         "--web.listen-address", f"127.0.0.1:{port}", "--no-apply", "--stop-timeout", "20"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    output = Output(process)
    url = f"http://127.0.0.1:{port}"
    try:
        output.wait_for(r"\| ready: ", process)
        pids = {m.group(1): int(m.group(2)) for m in re.finditer(r"started (\S+) \(pid (\d+)\)", output.text())}
        topology = load_topology(settings.topics.topology_file)
        chains = {c.name for c in topology.enabled_chains(enabled_features(settings))}
        assert "history" not in chains  # history.enabled is off: its chain is not started
        assert set(pids) == {"bridge", *chains}, pids
        _post(url, "BeforeKill")
        _wait_delivered(collector, "BeforeKill", process, output)

        os.kill(pids["normalize"], signal.SIGKILL)
        mark = len(output.lines)
        output.wait_for(r"normalize exited with status -9 after [\d.]+ s; restart 1 in 1 s", process, after=mark)
        restarted = int(output.wait_for(r"started normalize \(pid (\d+)\)", process, after=mark).group(1))
        assert restarted != pids["normalize"]
        assert list((tmp_path / "state").rglob("*.sst")) or list((tmp_path / "state").rglob("CURRENT"))
        _post(url, "AfterKill")
        _wait_delivered(collector, "AfterKill", process, output, timeout=90)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, output.text()[-4000:]
        output.close()
        stopped = [line.split("| ", 1)[1] for line in output.lines if line.lstrip().startswith("run |")
                   and "stopped" in line]
        assert sorted(stopped) == sorted(f"stopped {name}" for name in ("bridge", *chains)), output.text()[-3000:]
        assert not [pid for pid in (*pids.values(), restarted) if _alive(pid)]
        # The bridge stops before the workers: nothing accepted that no worker would take.
        lines = output.text().splitlines()
        stop_bridge = next(i for i, line in enumerate(lines) if "stopped bridge" in line)
        assert all(i > stop_bridge for i, line in enumerate(lines) if "stopped normalize" in line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        collector.stop()


def test_run_refuses_a_bad_configuration_and_starts_nothing(kafka_bootstrap, tmp_path):
    settings = settings_with_topology(kafka_bootstrap, "runbad-")
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nowhere\nreceivers: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--config.file", str(config), "--no-apply"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, timeout=60)
    assert result.returncode == 1
    assert b"nowhere" in result.stderr, result.stderr
    assert b"started" not in result.stdout
