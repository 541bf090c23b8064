"""The web configuration file: Alertmanager's ``--web.config.file`` (Prometheus exporter-toolkit v0.8,
what Alertmanager 0.25 reads) plus two keys of this product, ``bearer_tokens`` and ``roles``.

    tls_server_config:               # TLS for every endpoint (absent: plain HTTP)
      cert_file: server.crt          # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
      client_ca_file: clients-ca.crt
      min_version: TLS12             # TLS10..TLS13; default TLS12 (max TLS13)
      cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # Go names; TLS 1.2 and below
      curve_preferences: [X25519]
      prefer_server_cipher_suites: true
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}   # the five exporter-toolkit allows
    basic_auth_users:                # user: bcrypt hash (`pipeline web hash-password`)
      alice: $2y$10$...
    bearer_tokens:                   # this product's extension: name -> the token's SHA-256, or a file
      ci-bot: {sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}
      prometheus: {token_file: /run/secrets/prometheus-token}
    roles:                           # extension: identity -> roles (read, silence, ingest, admin)
      alice: [read, silence]
      ci-bot: [read, admin]
      prometheus: [ingest]

Without ``roles`` every authenticated identity has every role (what the same file means to
Alertmanager: authenticated is allowed). With ``roles``, every user and token must be listed (``[]``
for none), so a forgotten entry is an error at start rather than a silent lock-out or grant.

A file using ``bearer_tokens`` or ``roles`` is not accepted by Alertmanager itself (it reads the file
strictly); one without them is read by both the same way.

Errors name the file and key, never a value: a password pasted where a hash belongs must not be
printed back.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.bridge.sources import describe_validation_error, yaml_problem


class WebConfigError(ValueError):
    """The web configuration file is unreadable or invalid; the message names the file and key."""


class RefusedToListen(RuntimeError):
    """Listening where the configuration would expose the API unauthenticated (see listen_refusal)."""


class Role(str, enum.Enum):
    """What an identity may do. Each endpoint needs exactly one (see pipeline.web.access)."""

    READ = "read"  # GET alerts, groups, silences, status, receivers, metrics, readiness
    SILENCE = "silence"  # create, update and expire silences
    INGEST = "ingest"  # post alerts (each source's own authentication applies as well)
    ADMIN = "admin"  # operations: configuration reload, DLQ replay

    def __str__(self) -> str:
        return self.value


ALL_ROLES: frozenset[Role] = frozenset(Role)

# exporter-toolkit's extraHTTPHeaders: the headers that may be set, with their allowed values (None: any).
ALLOWED_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Go's crypto/tls names (what the file uses) -> the IANA code OpenSSL identifies the suite by.
GO_CIPHER_SUITES = {
    "TLS_RSA_WITH_RC4_128_SHA": 0x0005, "TLS_RSA_WITH_3DES_EDE_CBC_SHA": 0x000A,
    "TLS_RSA_WITH_AES_128_CBC_SHA": 0x002F, "TLS_RSA_WITH_AES_256_CBC_SHA": 0x0035,
    "TLS_RSA_WITH_AES_128_CBC_SHA256": 0x003C, "TLS_RSA_WITH_AES_128_GCM_SHA256": 0x009C,
    "TLS_RSA_WITH_AES_256_GCM_SHA384": 0x009D, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": 0xC007,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": 0xC009, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": 0xC00A,
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": 0xC011, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": 0xC012,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": 0xC023, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": 0xC027,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": 0xCCA8, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": 0xCCA9,
}
# Go's curve names -> OpenSSL's.
GO_CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}
# golang.org/x/crypto/bcrypt's format: $2a$, $2b$ or $2y$, a two-digit cost, 22 + 31 characters.
_BCRYPT = re.compile(r"\A\$2[aby]?\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}\Z")
_SHA256_HEX = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_IDENTITY = re.compile(r"\A[^\s:]+\Z")  # a basic-auth user name cannot contain ':'

ClientAuth = Literal["", "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "RequireClientCert",
                     "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class TlsServerConfig(_Strict):
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: ClientAuth = ""
    client_ca_file: str = ""
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS13"
    prefer_server_cipher_suites: bool = True

    @field_validator("client_auth_type")
    @classmethod
    def _verifiable(cls, value: str) -> str:
        # Python's ssl module verifies every certificate it asks for; Go's "request but do not
        # verify" modes have no equivalent, and an unverified certificate proves nothing anyway.
        if value in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
            raise ValueError(f"{value} (accept an unverified certificate) is not supported: use "
                             "VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file")
        return value

    @field_validator("cipher_suites")
    @classmethod
    def _known_ciphers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in GO_CIPHER_SUITES:
                raise ValueError(f"unknown cipher: {name}")
        return value

    @field_validator("curve_preferences")
    @classmethod
    def _known_curves(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in GO_CURVES:
                raise ValueError(f"unknown curve: {name}")
        if len(value) > 1:
            raise ValueError("Python's ssl module sets one curve, not a preference list: list one")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TlsServerConfig:
        if not self.enabled:
            return self
        # ConfigToTLSConfig's checks, in its order and wording.
        if not self.cert_file:
            raise ValueError("missing cert_file")
        if not self.key_file:
            raise ValueError("missing key_file")
        verifies = self.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
        if self.client_ca_file and not verifies:
            raise ValueError("Client CA's have been configured without a Client Auth Policy")
        if verifies and not self.client_ca_file:
            # Go would fall back to the system's roots: any publicly issued certificate would pass.
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file (the CA "
                             "that issues the client certificates)")
        if TLS_VERSIONS[self.min_version] > TLS_VERSIONS[self.max_version]:
            raise ValueError(f"min_version {self.min_version} is above max_version {self.max_version}")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file or self.key_file or self.client_auth_type or self.client_ca_file)

    @property
    def requires_client_certificate(self) -> bool:
        return self.client_auth_type == "RequireAndVerifyClientCert"


class HttpServerConfig(_Strict):
    http2: bool = True  # accepted for compatibility; uvicorn serves HTTP/1.1
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _allowed(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name not in ALLOWED_HEADERS:
                raise ValueError(f'HTTP header "{name}" can not be configured')
            allowed = ALLOWED_HEADERS[name]
            if allowed is not None and value not in allowed:
                raise ValueError(f"invalid value for {name}. Expected one of: {list(allowed)}, but got: {value!r}")
        return headers


class TokenSpec(_Strict):
    """A bearer token, by its SHA-256 (hex) or a file holding the token itself."""

    sha256: str | None = None
    token_file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> TokenSpec:
        if (self.sha256 is None) == (self.token_file is None):
            raise ValueError("give exactly one of sha256 (the token's SHA-256, hex) or token_file")
        if self.sha256 is not None and not _SHA256_HEX.match(self.sha256):
            raise ValueError("sha256 must be 64 hex digits (`pipeline web token` prints a token and its "
                             "hash); the token itself does not belong in this file")
        return self


class WebConfigFile(_Strict):
    tls_server_config: TlsServerConfig = Field(default_factory=TlsServerConfig)
    http_server_config: HttpServerConfig = Field(default_factory=HttpServerConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    bearer_tokens: dict[str, TokenSpec] = Field(default_factory=dict)
    roles: dict[str, tuple[Role, ...]] | None = None

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, str]) -> dict[str, str]:
        for name, hashed in users.items():
            if not _IDENTITY.match(name):
                raise ValueError(f"user name {name!r} must not be empty or contain ':' or whitespace")
            if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
                raise ValueError(f"{name}: not a bcrypt hash; put the output of `pipeline web hash-password` "
                                 "(or htpasswd -nBC 10) here, never the password itself")
        return users

    @field_validator("bearer_tokens")
    @classmethod
    def _token_names(cls, tokens: dict[str, TokenSpec]) -> dict[str, TokenSpec]:
        for name in tokens:
            if not _IDENTITY.match(name):
                raise ValueError(f"token name {name!r} must not be empty or contain ':' or whitespace")
        return tokens

    @model_validator(mode="after")
    def _roles_cover_every_identity(self) -> WebConfigFile:
        both = set(self.basic_auth_users) & set(self.bearer_tokens)
        if both:
            raise ValueError(f"{sorted(both)} named both in basic_auth_users and bearer_tokens; roles "
                             "are given per name, so the names must differ")
        if self.roles is None:
            return self
        identities = set(self.basic_auth_users) | set(self.bearer_tokens)
        unknown = sorted(set(self.roles) - identities)
        if unknown:
            raise ValueError(f"roles: {unknown} are neither users nor tokens of this file")
        missing = sorted(identities - set(self.roles))
        if missing:
            raise ValueError(f"roles: {missing} have no entry; list every user and token ([] for none)")
        return self


@dataclass(frozen=True)
class TlsFiles:
    """The TLS settings with their files resolved against the configuration file's directory."""

    settings: TlsServerConfig
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None


@dataclass(frozen=True)
class WebConfig:
    """The loaded web configuration: what :mod:`pipeline.web.access` and :mod:`pipeline.web.tls` use."""

    source: str = "<no web configuration>"
    users: Mapping[str, bytes] = field(default_factory=dict)  # name -> bcrypt hash
    tokens: Mapping[str, bytes] = field(default_factory=dict)  # name -> SHA-256 digest of the token
    roles: Mapping[str, frozenset[Role]] | None = None  # None: every identity has every role
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: TlsFiles | None = None

    @property
    def authenticates(self) -> bool:
        """Whether a request must prove who it is: users, tokens, or a required client certificate."""
        return bool(self.users or self.tokens) or self.certificate_only_authentication

    @property
    def certificate_only_authentication(self) -> bool:
        """TLS requires and verifies a client certificate and there is no other credential: the
        certificate is the authentication (as exporter-toolkit treats it) and grants every role."""
        return (self.tls is not None and self.tls.settings.requires_client_certificate
                and not self.users and not self.tokens)

    def roles_of(self, identity: str) -> frozenset[Role]:
        if self.roles is None:
            return ALL_ROLES
        return self.roles.get(identity, frozenset())


NO_WEB_CONFIG = WebConfig()


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.v2's UnmarshalStrict refuses a key given twice (PyYAML would keep the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise WebConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} is given twice")
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_web_config(path: str | Path | None) -> WebConfig:
    """Read and check the file (``None``: no web configuration). Raises :class:`WebConfigError`."""
    if path is None or str(path) == "":
        return NO_WEB_CONFIG
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WebConfigError(f"{path}: cannot read the web configuration: {exc.strerror or exc}") from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except WebConfigError as exc:
        raise WebConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{path}: {yaml_problem(exc)}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise WebConfigError(f"{path}: expected a mapping (tls_server_config, basic_auth_users, ...)")
    try:
        parsed = WebConfigFile.model_validate(document)
    except ValidationError as exc:
        raise WebConfigError(describe_validation_error(exc, str(path))) from None
    return _resolve(parsed, path)


def _resolve(parsed: WebConfigFile, path: Path) -> WebConfig:
    base = path.parent

    def resolve(name: str) -> Path:
        file = Path(name)
        return file if file.is_absolute() else base / file

    tokens: dict[str, bytes] = {}
    for name, spec in parsed.bearer_tokens.items():
        if spec.sha256 is not None:
            tokens[name] = bytes.fromhex(spec.sha256)
            continue
        token_path = resolve(spec.token_file or "")
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise WebConfigError(f"{path}: bearer_tokens.{name}.token_file: cannot read {token_path}: "
                                 f"{exc.strerror or exc}") from None
        if not token or any(char.isspace() for char in token):
            raise WebConfigError(f"{path}: bearer_tokens.{name}.token_file: {token_path} must hold one "
                                 "token (no whitespace inside)")
        tokens[name] = hashlib.sha256(token.encode()).digest()
    tls = None
    if parsed.tls_server_config.enabled:
        settings = parsed.tls_server_config
        tls = TlsFiles(settings, resolve(settings.cert_file), resolve(settings.key_file),
                       resolve(settings.client_ca_file) if settings.client_ca_file else None)
    roles = None
    if parsed.roles is not None:
        roles = {name: frozenset(granted) for name, granted in parsed.roles.items()}
    return WebConfig(
        source=str(path),
        users={name: hashed.encode() for name, hashed in parsed.basic_auth_users.items()},
        tokens=tokens, roles=roles, headers=dict(parsed.http_server_config.headers), tls=tls,
    )


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or a wildcard: it may resolve to, or mean, every interface


def listen_refusal(host: str, config: WebConfig, insecure: bool) -> str | None:
    """Why the bridge must not start listening on ``host`` with this configuration, or None.

    Anyone who reaches the port could read every alert, post alerts and silence everything, so a
    non-loopback address needs authentication unless the operator says otherwise, explicitly."""
    if config.authenticates or insecure or is_loopback(host):
        return None
    return (f"refusing to listen on {host}: no authentication is configured, so anyone who reaches this "
            "address could read every alert, post alerts and silence everything. Configure users or "
            "tokens in a web configuration file (PIPELINE_WEB__CONFIG_FILE or --web.config.file; see "
            "\"Securing the API\" in the README), listen on 127.0.0.1, or accept the risk explicitly with "
            "--insecure (PIPELINE_WEB__INSECURE=true).")
