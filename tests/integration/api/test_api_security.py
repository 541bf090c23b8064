"""The bridge behind TLS with client certificates, basic auth and roles, against the real broker, and
the real ``amtool`` 0.25 against it over https with basic auth and a client certificate
(``--http.config.file``): listing alerts, creating, querying and expiring a silence."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from tests.integration.api.conftest import wait_for
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.peer_processes import require_binary
from tests.integration.pki import Pki, make_pki

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}
INGEST_TOKEN = "prometheus-ingest-token-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def web_config(pki, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("web")
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                              "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": str(pki.ca_cert)},
        "http_server_config": {"headers": {"Strict-Transport-Security": "max-age=31536000"}},
        "basic_auth_users": {name: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(10)).decode()
                             for name, pw in PASSWORDS.items()},
        "bearer_tokens": {"prometheus": {"sha256": hashlib.sha256(INGEST_TOKEN.encode()).hexdigest()}},
        "roles": {"alice": ["read", "silence"], "bob": ["read"], "prometheus": ["ingest"]},
    }))
    return path


def client(pki: Pki, user: str | None = "alice", *, certificate: bool = True) -> httpx.Client:
    auth = (user, PASSWORDS[user]) if user else None
    return httpx.Client(verify=pki.client_context(with_certificate=certificate), auth=auth, timeout=10)


@pytest.fixture(scope="module")
def secure_bridge(api_settings, web_config, pki, tmp_path_factory):
    def ready_get(url: str) -> httpx.Response:
        # A client per poll, closed at once: an idle TLS connection would hold the bridge's graceful
        # shutdown until the TLS close times out.
        with client(pki) as ready_client:
            return ready_client.get(url)

    with running_bridge(api_settings, OPEN_SOURCES, tmp_path_factory.mktemp("secure-bridge"),
                        web={"config_file": web_config}, scheme="https", ready_get=ready_get) as running:
        yield running


@pytest.fixture(scope="module")
def amtool_binary() -> str:
    return require_binary("amtool")


def http_config(pki: Pki, directory: Path, user: str) -> Path:
    """amtool's --http.config.file: prometheus/common's HTTP client configuration."""
    path = directory / f"amtool-{user}.yml"
    path.write_text(yaml.safe_dump({
        "basic_auth": {"username": user, "password": PASSWORDS[user]},
        "tls_config": {"ca_file": str(pki.ca_cert), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)},
    }))
    return path


def amtool(binary: str, bridge, config: Path | None, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    flags = [f"--alertmanager.url={bridge.url}"] + ([f"--http.config.file={config}"] if config else [])
    result = subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, f"amtool {' '.join(args)}: {result.stdout}{result.stderr}\n{bridge.log()}"
    return result


def test_amtool_lists_alerts_and_manages_a_silence_over_tls_with_basic_auth(
        secure_bridge, enriched_writer, amtool_binary, pki, tmp_path):
    enriched_writer.send({"alertname": "Secured", "service": "db", "severity": "critical"})
    alice = http_config(pki, tmp_path, "alice")
    wait_for(lambda: json.loads(amtool(amtool_binary, secure_bridge, alice, "alert", "query", "-o", "json").stdout),
             lambda alerts: [a["labels"]["alertname"] for a in alerts] == ["Secured"], what="amtool alert query")

    silence_id = amtool(amtool_binary, secure_bridge, alice, "silence", "add", "alertname=Secured",
                        "-c", "over tls", "-a", "alice", "-d", "1h").stdout.strip()
    assert len(silence_id) == 36
    listed = json.loads(amtool(amtool_binary, secure_bridge, alice, "silence", "query", "-o", "json").stdout)
    assert [s["id"] for s in listed] == [silence_id] and listed[0]["comment"] == "over tls"
    silenced = json.loads(amtool(amtool_binary, secure_bridge, alice, "alert", "query", "-s", "-o", "json",
                                 "alertname=Secured").stdout)
    assert [a["status"]["silencedBy"] for a in silenced] == [[silence_id]]

    # bob reads but may not silence: amtool reports the refusal and nothing changes
    bob = http_config(pki, tmp_path, "bob")
    assert silence_id in amtool(amtool_binary, secure_bridge, bob, "silence", "query", "-q").stdout.split()
    refused = amtool(amtool_binary, secure_bridge, bob, "silence", "expire", silence_id, ok=False)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    refused = amtool(amtool_binary, secure_bridge, bob, "silence", "add", "alertname=Other", "-c", "x", ok=False)
    assert refused.returncode != 0

    amtool(amtool_binary, secure_bridge, alice, "silence", "expire", silence_id)
    assert silence_id not in amtool(amtool_binary, secure_bridge, alice, "silence", "query", "-q").stdout.split()
    assert silence_id in amtool(amtool_binary, secure_bridge, alice, "silence", "query", "--expired", "-q").stdout.split()


def test_amtool_without_credentials_or_trust_fails(secure_bridge, amtool_binary, pki, tmp_path):
    untrusting = amtool(amtool_binary, secure_bridge, None, "alert", "query", ok=False)
    assert untrusting.returncode != 0 and "certificate" in untrusting.stderr.lower()
    no_password = tmp_path / "no-password.yml"
    no_password.write_text(yaml.safe_dump({"tls_config": {
        "ca_file": str(pki.ca_cert), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}}))
    refused = amtool(amtool_binary, secure_bridge, no_password, "alert", "query", ok=False)
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr


def test_the_handshake_needs_a_certificate_of_the_client_ca(secure_bridge, pki):
    with client(pki, certificate=False) as no_certificate:
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            no_certificate.get(f"{secure_bridge.url}/healthz")
    stranger = ssl.create_default_context(cafile=str(pki.ca_cert))
    stranger.load_cert_chain(str(pki.stranger_cert), str(pki.stranger_key))
    with httpx.Client(verify=stranger, timeout=10) as stranger_client:
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            stranger_client.get(f"{secure_bridge.url}/healthz")
    assert secure_bridge.component.alive()


def test_certificate_and_credentials_and_roles_all_count(secure_bridge, pki):
    url = secure_bridge.url
    with client(pki, user=None) as anonymous:
        assert anonymous.get(f"{url}/healthz").status_code == 200  # the public liveness probe
        answer = anonymous.get(f"{url}/api/v2/status")
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
        wrong = anonymous.get(f"{url}/api/v2/alerts",
                              headers={"Authorization": "Basic " + base64.b64encode(b"alice:nope").decode()})
        assert wrong.status_code == 401
        posted = anonymous.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "Ingested"}}],
                                headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
        assert posted.status_code == 200, posted.text
    with client(pki, "alice") as alice:
        refused = alice.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "X"}}])
        assert refused.status_code == 403 and "ingest" in refused.json()["detail"]
        assert alice.get(f"{url}/metrics").status_code == 200
