"""The local service manager's decisions, without starting anything."""

import socket
import subprocess
import sys

import pytest

from pipeline.devenv import DevEnvError
from pipeline.devenv.kafka import LocalKafka, count_topic_dirs
from pipeline.devenv.process import ManagedProcess, free_port
from pipeline.devenv.redis import LocalRedis
from pipeline.settings import DevSettings


def dev(tmp_path, **kw):
    return DevSettings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache", **kw)


def test_server_properties_use_configured_ports_and_data_dir(tmp_path):
    broker = LocalKafka(dev(tmp_path, kafka_port=29092, kafka_controller_port=29093))
    props = dict(line.split("=", 1) for line in broker.server_properties().splitlines() if line)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(tmp_path / "state" / "kafka" / "data")
    assert props["auto.create.topics.enable"] == "false"


def test_missing_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevEnvError, match="Java is not installed.*apt-get install"):
        LocalKafka(dev(tmp_path)).up()


def test_missing_maven_is_a_clear_error_when_jars_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevEnvError, match="Maven.*apt-get install -y maven"):
        LocalKafka(dev(tmp_path)).ensure_jars()


def test_cached_jars_need_neither_maven_nor_network(tmp_path, monkeypatch):
    broker = LocalKafka(dev(tmp_path))
    broker.jars_dir.mkdir(parents=True)
    (broker.jars_dir / "kafka_2.13-3.9.1.jar").write_bytes(b"")
    (broker.jars_dir / ".complete").write_text("3.9.1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert broker.ensure_jars() is False


def test_occupied_port_is_reported(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DevEnvError, match=f"port {port} is already in use"):
            LocalRedis(dev(tmp_path, redis_port=port)).up()


def test_a_reused_pid_is_not_taken_for_our_service(tmp_path):
    """A stale pid file pointing at an unrelated process must not be stopped or reported running."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        process = ManagedProcess("kafka", tmp_path, marker="kafka.Kafka /nowhere")
        tmp_path.mkdir(exist_ok=True)
        process.pid_file.write_text(str(other.pid))
        assert not process.is_running()
        assert process.stop() is False
        assert other.poll() is None
    finally:
        other.kill()


def test_managed_process_start_and_stop(tmp_path):
    marker = f"sleeper-{free_port()}"
    process = ManagedProcess("sleeper", tmp_path, marker=marker)
    process.start([sys.executable, "-c", "import sys, time; time.sleep(60)", marker])
    assert process.is_running()
    assert process.stop(timeout=5) is True
    assert not process.is_running()
    assert not process.pid_file.exists()


def test_reset_deletes_the_broker_data_and_keeps_the_jars(tmp_path):
    broker = LocalKafka(dev(tmp_path))
    for name in ("t1.alerts.raw-0", "t1.alerts.raw-1", "__consumer_offsets-3"):
        (broker.data_dir / name).mkdir(parents=True)
    (broker.data_dir / "meta.properties").write_text("cluster.id=x\n")
    broker.jars_dir.mkdir(parents=True)
    (broker.jars_dir / "kafka_2.13-3.9.1.jar").write_bytes(b"jar")
    assert count_topic_dirs(broker.data_dir) == 3
    assert broker.reset() is True
    assert not broker.data_dir.exists() and count_topic_dirs(broker.data_dir) == 0
    assert (broker.jars_dir / "kafka_2.13-3.9.1.jar").exists()
    assert broker.reset() is False  # nothing left to delete


def test_reset_deletes_the_redis_append_only_data_and_keeps_the_config(tmp_path):
    local = LocalRedis(dev(tmp_path))
    (local.home / "appendonlydir").mkdir(parents=True)
    (local.home / "appendonlydir" / "appendonly.aof.1.base.rdb").write_bytes(b"x")
    (local.home / "redis.conf").write_text("port 1\n")
    assert local.reset() is True
    assert not (local.home / "appendonlydir").exists()
    assert (local.home / "redis.conf").exists()
    assert local.reset() is False
