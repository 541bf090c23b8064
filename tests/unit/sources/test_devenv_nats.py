"""The local NATS server's decisions, without starting it."""

import socket

import pytest

from pipeline.devenv import DevEnvError
from pipeline.devenv.nats import LocalNats, server_info
from pipeline.settings import DevSettings


def test_config_listens_on_loopback_with_jetstream_in_the_state_dir(tmp_path):
    local = LocalNats(DevSettings(state_dir=tmp_path, nats_port=24222), extra_config="authorization { token: t }")
    config = local.config()
    assert "listen: 127.0.0.1:24222" in config
    assert f'store_dir: "{tmp_path / "nats" / "jetstream"}"' in config
    assert config.rstrip().endswith("authorization { token: t }")
    assert local.url == "nats://127.0.0.1:24222"


def test_missing_nats_server_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.devenv.nats.nats_server_binary", lambda: None)
    with pytest.raises(DevEnvError, match="apt-get install -y nats-server"):
        LocalNats(DevSettings(state_dir=tmp_path, nats_port=24223)).up()


def test_something_else_on_the_port_is_not_a_nats_server(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert server_info("127.0.0.1", port, timeout=0.2) is None
        with pytest.raises(DevEnvError, match=f"port {port} is already in use"):
            LocalNats(DevSettings(state_dir=tmp_path, nats_port=port)).up()
