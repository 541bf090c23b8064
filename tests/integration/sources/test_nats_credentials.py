"""NATS credentials and TLS, through `pipeline sources check --connect` (the same connection options the
running source uses) against real nats-servers: TLS with a test CA plus user/password and NKey users
on one, a token on another. Wrong credentials fail with the server's reason and never show the secret."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import nats
import nkeys
import pytest
import yaml
from nats.js.api import StreamConfig

from pipeline.devenv.nats import LocalNats
from pipeline.devenv.process import free_port
from pipeline.settings import DevSettings, settings_env
from tests.integration.sources.conftest import run_async

PASSWORD = "alice-s3cret-password"
TOKEN = "nats-t0ken-value"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                                  "server.pem"))
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "1",
            "-subj", "/CN=pipeline-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "1", "-extfile", str(extensions))
    return ca, cert, key


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """(tls+users server url, token server url, CA file, NKey seed file)."""
    base = tmp_path_factory.mktemp("nats-secured")
    ca, cert, key = make_certificates(base / "certs")
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = base / "user.nk"
    seed_file.write_bytes(seed + b"\n")
    users = LocalNats(DevSettings(state_dir=base / "users", nats_port=free_port()), extra_config="\n".join([
        f'tls {{ cert_file: "{cert}", key_file: "{key}", ca_file: "{ca}" }}',
        f'authorization {{ users = [ {{user: alice, password: "{PASSWORD}"}}, {{nkey: {public}}} ] }}']))
    token = LocalNats(DevSettings(state_dir=base / "token", nats_port=free_port()),
                      extra_config=f'authorization {{ token: "{TOKEN}" }}')
    users.up()
    token.up()
    context = ssl.create_default_context(cafile=str(ca))
    run_async(_stream(users.url.replace("nats://", "tls://"), tls=context, user="alice", password=PASSWORD))
    run_async(_stream(token.url, token=TOKEN))
    yield users.url.replace("nats://", "tls://"), token.url, ca, seed_file
    users.down()
    token.down()


async def _stream(url: str, **options) -> None:
    nc = await nats.connect(url, **options)
    try:
        await nc.jetstream().add_stream(StreamConfig(name="SECURED", subjects=["secured.>"]))
    finally:
        await nc.close()


def check(tmp_path: Path, nats_block: dict, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    directory = tmp_path / f"sources-{len(list(tmp_path.glob('sources-*')))}"
    directory.mkdir()
    (directory / "secured.yaml").write_text(yaml.safe_dump({
        "kind": "stream", "type": "nats", "nats": {"stream": "SECURED", "subject": "secured.>", **nats_block}}))
    from pipeline.settings import Settings

    env = {**os.environ, **settings_env(Settings()), **(environ or {})}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "sources", "check", "--connect", "--dir",
                           str(directory)], capture_output=True, text=True, env=env, timeout=60)


def test_tls_with_a_ca_and_user_password(secured, tmp_path):
    url, _token_url, ca, _seed = secured
    answer = check(tmp_path, {"servers": [url], "tls": {"ca_file": str(ca)},
                              "auth": {"type": "user", "user": "alice", "password_env": "ALICE_PASSWORD"}},
                   {"ALICE_PASSWORD": PASSWORD})
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "secured: ok: stream SECURED" in answer.stdout


def test_tls_without_the_ca_is_refused(secured, tmp_path):
    url, _token_url, _ca, _seed = secured
    answer = check(tmp_path, {"servers": [url], "auth": {"type": "user", "user": "alice", "password": PASSWORD}})
    assert answer.returncode == 1
    assert "secured: FAILED" in answer.stdout and "CERTIFICATE_VERIFY_FAILED" in answer.stdout + answer.stderr


def test_a_wrong_password_fails_with_the_servers_reason_and_never_shows_it(secured, tmp_path):
    url, _token_url, ca, _seed = secured
    answer = check(tmp_path, {"servers": [url], "tls": {"ca_file": str(ca)},
                              "auth": {"type": "user", "user": "alice", "password": "wrong-password-x"}})
    assert answer.returncode == 1 and "secured: FAILED" in answer.stdout
    assert "wrong-password-x" not in answer.stdout + answer.stderr and PASSWORD not in answer.stdout + answer.stderr


def test_an_nkey_seed_file(secured, tmp_path):
    url, _token_url, ca, seed = secured
    answer = check(tmp_path, {"servers": [url], "tls": {"ca_file": str(ca)},
                              "auth": {"type": "nkey", "seed_file": str(seed)}})
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_a_token_and_a_wrong_one(secured, tmp_path):
    _url, token_url, _ca, _seed = secured
    good = check(tmp_path, {"servers": [token_url], "auth": {"type": "token", "token_env": "NATS_TOKEN"}},
                 {"NATS_TOKEN": TOKEN})
    assert good.returncode == 0, good.stdout + good.stderr
    bad = check(tmp_path, {"servers": [token_url], "auth": {"type": "token", "token": "not-the-token"}})
    assert bad.returncode == 1 and "not-the-token" not in bad.stdout + bad.stderr
