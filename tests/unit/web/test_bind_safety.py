"""`pipeline bridge` refuses a non-loopback address without authentication unless told --insecure,
and hands uvicorn the TLS context of the web configuration (uvicorn itself is replaced here)."""

from __future__ import annotations

import ssl

import pytest
import yaml
from click.testing import CliRunner

from pipeline.bridge import server
from pipeline.cli import main as cli
from tests.integration.pki import make_pki

FAKE = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"


@pytest.fixture
def uvicorn_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(server.uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    return calls


def run_bridge(*args: str, **env: str):
    return CliRunner().invoke(cli, ["bridge", *args], env=env, catch_exceptions=False)


def test_a_public_address_without_authentication_is_refused(uvicorn_calls):
    result = run_bridge(PIPELINE_BRIDGE__HOST="0.0.0.0")
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0: no authentication is configured" in result.output
    assert "--insecure" in result.output and uvicorn_calls == []


def test_loopback_needs_nothing(uvicorn_calls):
    assert run_bridge(PIPELINE_BRIDGE__HOST="127.0.0.1").exit_code == 0
    assert uvicorn_calls[0]["host"] == "127.0.0.1" and "ssl_context_factory" not in uvicorn_calls[0]


def test_insecure_is_an_explicit_choice(uvicorn_calls, monkeypatch):
    monkeypatch.delenv("PIPELINE_WEB__INSECURE", raising=False)
    result = run_bridge("--insecure", PIPELINE_BRIDGE__HOST="0.0.0.0")
    assert result.exit_code == 0, result.output
    assert uvicorn_calls[0]["host"] == "0.0.0.0"
    assert run_bridge(PIPELINE_BRIDGE__HOST="::", PIPELINE_WEB__INSECURE="true").exit_code == 0


def test_credentials_allow_a_public_address_and_tls_reaches_uvicorn(uvicorn_calls, tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_WEB__CONFIG_FILE", raising=False)
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"alice": FAKE},
                                   "tls_server_config": {"cert_file": str(pki.server_cert),
                                                         "key_file": str(pki.server_key)}}))
    result = run_bridge(f"--web.config.file={web}", PIPELINE_BRIDGE__HOST="0.0.0.0")
    assert result.exit_code == 0, result.output
    factory = uvicorn_calls[0]["ssl_context_factory"]
    context = factory(None, None)
    assert isinstance(context, ssl.SSLContext) and context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_broken_web_configuration_stops_the_bridge_with_the_file_named(uvicorn_calls, tmp_path):
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config: {cert_file: missing.crt, key_file: missing.key}\n")
    result = run_bridge(PIPELINE_WEB__CONFIG_FILE=str(web))
    assert result.exit_code == 1 and "missing.crt: no such file" in result.output and uvicorn_calls == []
