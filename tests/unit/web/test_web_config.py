"""The web configuration file: exporter-toolkit's format and checks, the product's tokens and roles,
errors that never echo a value, and the bind-safety rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from pipeline.web.config import (
    ALL_ROLES,
    NO_WEB_CONFIG,
    Role,
    WebConfigError,
    is_loopback,
    listen_refusal,
    load_web_config,
)

# bcrypt of "fakepassword" (exporter-toolkit's own constant) and of "secret" (cost 4, quick).
FAKE = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
PASSWORD_PASTED = "Correct-Horse-Battery-Staple-42"


def write(tmp_path: Path, document, name: str = "web.yml") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def error_of(tmp_path: Path, document) -> str:
    with pytest.raises(WebConfigError) as caught:
        load_web_config(write(tmp_path, document))
    return str(caught.value)


def test_no_file_means_no_authentication():
    assert load_web_config(None) is NO_WEB_CONFIG
    assert not NO_WEB_CONFIG.authenticates and NO_WEB_CONFIG.tls is None


def test_full_file_with_relative_paths_tokens_and_roles(tmp_path):
    (tmp_path / "certs").mkdir()
    (tmp_path / "bot.token").write_text("tok-123\n")
    config = load_web_config(write(tmp_path, {
        "tls_server_config": {"cert_file": "certs/s.crt", "key_file": "/abs/s.key",
                              "client_auth_type": "VerifyClientCertIfGiven", "client_ca_file": "certs/ca.crt",
                              "min_version": "TLS13"},
        "http_server_config": {"headers": {"X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=1"}},
        "basic_auth_users": {"alice": FAKE},
        "bearer_tokens": {"bot": {"token_file": "bot.token"},
                          "ci": {"sha256": hashlib.sha256(b"ci-token").hexdigest()}},
        "roles": {"alice": ["read", "silence"], "bot": ["ingest"], "ci": []},
    }))
    assert config.tls.cert_file == tmp_path / "certs" / "s.crt"
    assert config.tls.key_file == Path("/abs/s.key")
    assert config.tls.client_ca_file == tmp_path / "certs" / "ca.crt"
    assert config.tokens == {"bot": hashlib.sha256(b"tok-123").digest(), "ci": hashlib.sha256(b"ci-token").digest()}
    assert config.roles_of("alice") == {Role.READ, Role.SILENCE}
    assert config.roles_of("ci") == frozenset() and config.roles_of("nobody") == frozenset()
    assert config.headers == {"X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=1"}
    assert config.authenticates and not config.certificate_only_authentication


def test_without_roles_every_identity_has_every_role(tmp_path):
    config = load_web_config(write(tmp_path, {"basic_auth_users": {"alice": FAKE}}))
    assert config.roles is None and config.roles_of("alice") == ALL_ROLES


def test_an_alertmanager_file_reads_the_same(tmp_path):
    # Only exporter-toolkit keys: what Alertmanager 0.25 itself accepts with --web.config.file.
    config = load_web_config(write(tmp_path, "basic_auth_users:\n  admin: " + FAKE + "\n"
                                             "http_server_config:\n  http2: false\n"))
    assert list(config.users) == ["admin"] and config.tls is None


def test_required_client_certificates_alone_authenticate(tmp_path):
    config = load_web_config(write(tmp_path, {"tls_server_config": {
        "cert_file": "s.crt", "key_file": "s.key", "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": "ca.crt"}}))
    assert config.authenticates and config.certificate_only_authentication
    optional = load_web_config(write(tmp_path, {"tls_server_config": {
        "cert_file": "s.crt", "key_file": "s.key", "client_auth_type": "VerifyClientCertIfGiven",
        "client_ca_file": "ca.crt"}}, "optional.yml"))
    assert not optional.authenticates  # a certificate that may be absent proves nothing


@pytest.mark.parametrize("document, message", [
    ({"basic_auth_users": {"alice": PASSWORD_PASTED}}, "basic_auth_users: alice: not a bcrypt hash"),
    ({"basic_auth_users": {"a:b": FAKE}}, "must not be empty or contain ':'"),
    ({"bearer_tokens": {"bot": {"sha256": PASSWORD_PASTED}}}, "sha256 must be 64 hex digits"),
    ({"bearer_tokens": {"bot": {}}}, "give exactly one of sha256"),
    ({"basic_auth_users": {"x": FAKE}, "bearer_tokens": {"x": {"sha256": "0" * 64}}},
     "named both in basic_auth_users and bearer_tokens"),
    ({"basic_auth_users": {"alice": FAKE}, "roles": {}}, "roles: ['alice'] have no entry"),
    ({"basic_auth_users": {"alice": FAKE}, "roles": {"alice": [], "bob": ["read"]}},
     "roles: ['bob'] are neither users nor tokens"),
    ({"basic_auth_users": {"alice": FAKE}, "roles": {"alice": ["write"]}}, "roles.alice[0]: Input should be"),
    ({"tls_server_config": {"cert_file": "a"}}, "tls_server_config: missing key_file"),
    ({"tls_server_config": {"key_file": "a"}}, "tls_server_config: missing cert_file"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_ca_file": "c"}},
     "Client CA's have been configured without a Client Auth Policy"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "RequireAndVerifyClientCert"}},
     "needs client_ca_file"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "RequireAnyClientCert"}},
     "is not supported"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "Whatever"}},
     "client_auth_type: Input should be"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "min_version": "TLS13", "max_version": "TLS12"}},
     "min_version TLS13 is above max_version TLS12"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "cipher_suites": ["TLS_FOO"]}}, "unknown cipher: TLS_FOO"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "curve_preferences": ["CurveP999"]}}, "unknown curve"),
    ({"http_server_config": {"headers": {"X-Powered-By": "x"}}}, 'HTTP header "X-Powered-By" can not be configured'),
    ({"http_server_config": {"headers": {"X-Frame-Options": "allow"}}}, "invalid value for X-Frame-Options"),
    ({"basic_auth_user": {"alice": FAKE}}, "basic_auth_user: Extra inputs are not permitted"),
    ("basic_auth_users:\n  a: " + FAKE + "\n  a: " + FAKE + "\n", "key 'a' is given twice"),
    ("basic_auth_users: [\n", "not valid YAML at line"),
    ("- a\n", "expected a mapping"),
])
def test_errors_name_the_key_and_never_the_value(tmp_path, document, message):
    text = error_of(tmp_path, document)
    assert message in text and str(tmp_path) in text
    assert PASSWORD_PASTED not in text


def test_a_token_pasted_as_a_key_is_not_echoed(tmp_path):
    text = error_of(tmp_path, {"bearer_tokens": {"bot": {"token": PASSWORD_PASTED}}})
    assert "bearer_tokens.bot.token: Extra inputs are not permitted" in text and PASSWORD_PASTED not in text


def test_token_files_must_hold_one_token(tmp_path):
    (tmp_path / "t").write_text("two words\n")
    assert "must hold one token" in error_of(tmp_path, {"bearer_tokens": {"bot": {"token_file": "t"}}})
    assert "cannot read" in error_of(tmp_path, {"bearer_tokens": {"bot": {"token_file": "missing"}}})


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("bridge.example.com", False), ("", False),
])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_bind_safety(tmp_path):
    authenticated = load_web_config(write(tmp_path, {"basic_auth_users": {"alice": FAKE}}))
    assert listen_refusal("127.0.0.1", NO_WEB_CONFIG, insecure=False) is None
    assert listen_refusal("0.0.0.0", authenticated, insecure=False) is None
    assert listen_refusal("0.0.0.0", NO_WEB_CONFIG, insecure=True) is None
    refusal = listen_refusal("0.0.0.0", NO_WEB_CONFIG, insecure=False)
    assert refusal.startswith("refusing to listen on 0.0.0.0: no authentication is configured")
    assert "--insecure" in refusal and "web.config.file" in refusal
