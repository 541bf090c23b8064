"""The local PostgreSQL manager's decisions, without starting a server."""

import socket

import pytest

from pipeline.devenv import DevEnvError
from pipeline.devenv import postgres as devpg
from pipeline.devenv.postgres import LocalPostgres
from pipeline.settings import DevSettings


def test_a_missing_server_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(devpg, "PG_BIN_DIR", tmp_path / "nowhere")
    with pytest.raises(DevEnvError, match=r"PostgreSQL 15 is not installed .*apt-get install -y postgresql-15"):
        LocalPostgres(DevSettings(state_dir=tmp_path)).up()


def test_an_occupied_port_is_reported(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DevEnvError, match=f"port {port} is already in use.*PIPELINE_DEV__POSTGRES_PORT"):
            LocalPostgres(DevSettings(state_dir=tmp_path, postgres_port=port)).up()


def test_the_dsn_matches_the_history_default():
    from pipeline.settings import HistorySettings

    assert LocalPostgres(DevSettings()).dsn == HistorySettings().dsn


def test_a_recorded_data_location_is_used(tmp_path):
    home = tmp_path / "postgres"
    home.mkdir()
    (home / devpg.LOCATION_FILE).write_text(str(tmp_path / "elsewhere") + "\n")
    server = LocalPostgres(DevSettings(state_dir=tmp_path))
    assert server.data_dir == tmp_path / "elsewhere" / "data"
    assert server.status() == "postgres: stopped"
